// Records what Didit's web SDK reports, the way an integrator would wire it (README "Quick Start").
"use strict";
window.sdkEvents = [];
window.sdkResults = [];
const { DiditSdk } = window.DiditSDK;
DiditSdk.shared.onEvent = (event) => { window.sdkEvents.push(event); };
DiditSdk.shared.onComplete = (result) => { window.sdkResults.push(result); };
window.startDidit = (url) => DiditSdk.shared.startVerification({
  url: url,
  configuration: {
    embedded: true,
    embeddedContainerId: "didit-container",
    // Camera options make the SDK append document_camera etc. to the URL: the page must ignore them.
    defaultDocumentCamera: "back",
    showLivenessCameraSwitchButton: false,
  },
});
window.sdkReady = true;
