-- wrk script: POST a different pre-signed body on every request (every event_id new), cycling only if the
-- file runs out (the driver sizes the file so that it does not, and checks for duplicates afterwards).
local lines = {}
local i = 0

function init(args)
  local path = os.getenv("BENCH_BODIES")
  for line in io.lines(path) do
    lines[#lines + 1] = line
  end
  -- BENCH_OFFSET starts further into the file, so that several runs over one file send distinct events.
  i = tonumber(os.getenv("BENCH_OFFSET") or "0")
end

function request()
  i = i + 1
  if i > #lines then i = 1 end
  local ts, v2, raw, simple, body = lines[i]:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Timestamp"] = ts,
    ["X-Signature-V2"] = v2,
    ["X-Signature"] = raw,
    ["X-Signature-Simple"] = simple,
  }
  return wrk.format("POST", nil, headers, body)
end
