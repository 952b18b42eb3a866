"""The portal's own strings for the end-user pages, in English and Spanish (a small dict catalogue).

Didit's hosted flow has its own translations (the session's ``language`` is passed through to Didit); this
catalogue covers only what the portal itself says around it. The language is chosen from ``?lang=`` first,
then the browser's ``Accept-Language``, then English.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "en"

_EN: Final[dict[str, str]] = {
    "verify.title": "Verify your identity",
    "verify.intro": "Show an identity document and take a selfie. It takes about two minutes.",
    "verify.phone_heading": "Prefer your phone?",
    "verify.phone_hint": "Scan this code with your phone's camera to continue there. This page follows along.",
    "verify.qr_label": "QR code that opens the verification on your phone",
    "verify.copy_link": "Copy link",
    "verify.copied": "Link copied",
    "verify.start": "Start verification",
    "verify.start_hint": "Opens the secure verification flow. Come back to this page afterwards.",
    "verify.embed_label": "Identity verification",
    "verify.status_label": "Status",
    "verify.not_found_title": "This link is not valid",
    "verify.not_found": "The verification link is unknown or has expired. Ask the website that sent it for a new one.",
    "verify.restarting": "Starting a fresh verification for you…",
    "verify.restart_failed": "We could not start a new verification right now. Reload the page to try again.",
    "verify.return": "Return to the website",
    "verify.back_to_verification": "Back to the verification",
    "verify.start_again": "Start again",
    "done.title": "Verification result",
    "status.Not Started": "You have not started yet.",
    "next.Not Started": "Start the verification here, or scan the code to continue on your phone.",
    "status.In Progress": "Your verification is in progress.",
    "next.In Progress": "Finish the steps in the verification window.",
    "next.In Progress.phone": "Continue on your phone: this page updates by itself when you finish there.",
    "status.In Review": "Thank you. Your verification is being reviewed.",
    "next.In Review": "Nothing more to do now: you will hear from the website that asked for it.",
    "status.Approved": "You are verified.",
    "next.Approved": "All done. You can close this page or return to the website.",
    "status.Declined": "We could not verify your identity.",
    "next.Declined": "Contact the website that sent you this link if you think this is a mistake.",
    "status.Resubmitted": "Some steps need to be done again.",
    "next.Resubmitted": "Use this same link: the verification reopens at the steps to redo.",
    "status.Awaiting User": "Waiting for other people to verify.",
    "next.Awaiting User": "Nothing to do here for now.",
    "status.Abandoned": "The verification was not finished in time.",
    "next.Abandoned": "A fresh verification starts here automatically: start again below or on your phone.",
    "status.Expired": "This verification expired before it was started.",
    "next.Expired": "A fresh verification starts here automatically: start again below or on your phone.",
    "status.Kyc Expired": "Your earlier verification has expired.",
    "next.Kyc Expired": "Verify again to renew it: press Start again below.",
    "status.unknown": "Checking the status…",
    "next.unknown": "",
    "share.title": "Share your details",
    "share.intro": "Scan this code with the Didit app to share the details below with this website.",
    "share.qr_label": "QR code to open in the Didit app",
    "share.scopes_heading": "What will be shared",
    "share.not_found_title": "This link is not valid",
    "share.not_found": "The sharing link is unknown or has expired. Ask the website that sent it for a new one.",
    "share.status.initialized": "Waiting for you to scan the code.",
    "share.status.retrieved": "Code scanned: confirm on your phone.",
    "share.status.confirmed": "Thank you. Your details were shared.",
    "share.status.declined": "You declined to share your details.",
    "share.status.expired": "The code expired: here is a fresh one.",
    "share.status.unknown": "Preparing…",
    "share.refreshing": "Refreshing the code…",
    "share.too_many_tabs": "This link is open in many tabs: this one does not update by itself. Reload it later.",
}

_ES: Final[dict[str, str]] = {
    "verify.title": "Verifica tu identidad",
    "verify.intro": "Muestra un documento de identidad y hazte un selfi. Se tarda unos dos minutos.",
    "verify.phone_heading": "¿Prefieres el móvil?",
    "verify.phone_hint": "Escanea este código con la cámara del móvil para seguir allí. Esta página se actualiza sola.",
    "verify.qr_label": "Código QR que abre la verificación en tu móvil",
    "verify.copy_link": "Copiar enlace",
    "verify.copied": "Enlace copiado",
    "verify.start": "Empezar la verificación",
    "verify.start_hint": "Abre el proceso seguro de verificación. Después vuelve a esta página.",
    "verify.embed_label": "Verificación de identidad",
    "verify.status_label": "Estado",
    "verify.not_found_title": "Este enlace no es válido",
    "verify.not_found": "El enlace de verificación no existe o ha caducado. Pide uno nuevo al sitio web que lo envió.",
    "verify.restarting": "Iniciando una verificación nueva…",
    "verify.restart_failed": "No hemos podido iniciar una verificación nueva. Recarga la página para reintentarlo.",
    "verify.return": "Volver al sitio web",
    "verify.back_to_verification": "Volver a la verificación",
    "verify.start_again": "Empezar de nuevo",
    "done.title": "Resultado de la verificación",
    "status.Not Started": "Todavía no has empezado.",
    "next.Not Started": "Empieza la verificación aquí o escanea el código para continuar en el móvil.",
    "status.In Progress": "Tu verificación está en curso.",
    "next.In Progress": "Termina los pasos en la ventana de verificación.",
    "next.In Progress.phone": "Continúa en el móvil: esta página se actualiza sola cuando termines allí.",
    "status.In Review": "Gracias. Estamos revisando tu verificación.",
    "next.In Review": "No tienes que hacer nada más: el sitio web que la pidió te avisará.",
    "status.Approved": "Tu identidad está verificada.",
    "next.Approved": "Todo listo. Puedes cerrar esta página o volver al sitio web.",
    "status.Declined": "No hemos podido verificar tu identidad.",
    "next.Declined": "Si crees que es un error, contacta con el sitio web que te envió este enlace.",
    "status.Resubmitted": "Hay que repetir algunos pasos.",
    "next.Resubmitted": "Usa este mismo enlace: la verificación se reabre en los pasos que hay que repetir.",
    "status.Awaiting User": "Esperando a que otras personas se verifiquen.",
    "next.Awaiting User": "Por ahora no hay nada que hacer aquí.",
    "status.Abandoned": "La verificación no se terminó a tiempo.",
    "next.Abandoned": "Se inicia una verificación nueva automáticamente: vuelve a empezar abajo o en el móvil.",
    "status.Expired": "Esta verificación caducó antes de empezar.",
    "next.Expired": "Se inicia una verificación nueva automáticamente: vuelve a empezar abajo o en el móvil.",
    "status.Kyc Expired": "Tu verificación anterior ha caducado.",
    "next.Kyc Expired": "Verifícate de nuevo para renovarla: pulsa Empezar de nuevo abajo.",
    "status.unknown": "Comprobando el estado…",
    "next.unknown": "",
    "share.title": "Comparte tus datos",
    "share.intro": "Escanea este código con la app de Didit para compartir con este sitio web los datos de abajo.",
    "share.qr_label": "Código QR para abrir en la app de Didit",
    "share.scopes_heading": "Qué se compartirá",
    "share.not_found_title": "Este enlace no es válido",
    "share.not_found": "El enlace no existe o ha caducado. Pide uno nuevo al sitio web que lo envió.",
    "share.status.initialized": "Esperando a que escanees el código.",
    "share.status.retrieved": "Código escaneado: confirma en el móvil.",
    "share.status.confirmed": "Gracias. Tus datos se han compartido.",
    "share.status.declined": "Has rechazado compartir tus datos.",
    "share.status.expired": "El código caducó: aquí tienes uno nuevo.",
    "share.status.unknown": "Preparando…",
    "share.refreshing": "Renovando el código…",
    "share.too_many_tabs": (
        "Este enlace está abierto en muchas pestañas: esta no se actualiza sola. Recárgala más tarde."
    ),
}

#: Plain words for Auth + Data scopes (https://docs.didit.me/auth-and-data/data-transfer/user-scopes), per language.
SCOPE_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "openid": "Sign-in with your Didit account",
        "user_id": "A stable user id for this website",
        "picture": "Your profile picture",
        "pictures": "Your profile picture",
        "names": "Your name",
        "email": "Your email address",
        "phone": "Your phone number",
        "gender": "Your gender",
        "document_detail": "Details of your identity document",
        "birthdate": "Your date of birth",
        "address": "Your address",
        "bank_account": "Your bank account",
        "preferences": "Your preferences",
        "is_verified": "Whether your identity is verified",
        "is_over_18": "Whether you are over 18",
        "is_over_21": "Whether you are over 21",
        "instagram_account": "Your Instagram account",
        "x_account": "Your X account",
        "tiktok_account": "Your TikTok account",
    },
    "es": {
        "openid": "Iniciar sesión con tu cuenta de Didit",
        "user_id": "Un identificador estable para este sitio web",
        "picture": "Tu foto de perfil",
        "pictures": "Tu foto de perfil",
        "names": "Tu nombre",
        "email": "Tu correo electrónico",
        "phone": "Tu número de teléfono",
        "gender": "Tu género",
        "document_detail": "Los datos de tu documento de identidad",
        "birthdate": "Tu fecha de nacimiento",
        "address": "Tu dirección",
        "bank_account": "Tu cuenta bancaria",
        "preferences": "Tus preferencias",
        "is_verified": "Si tu identidad está verificada",
        "is_over_18": "Si eres mayor de 18 años",
        "is_over_21": "Si eres mayor de 21 años",
        "instagram_account": "Tu cuenta de Instagram",
        "x_account": "Tu cuenta de X",
        "tiktok_account": "Tu cuenta de TikTok",
    },
}

CATALOGUE: Final[dict[str, dict[str, str]]] = {"en": _EN, "es": _ES}
SUPPORTED: Final = tuple(CATALOGUE)


def _base(tag: str) -> str:
    return tag.strip().lower().replace("_", "-").split("-", 1)[0]


def pick_language(query_lang: str | None, accept_language: str | None) -> str:
    """Choose the portal's language: ``?lang=`` first, then the browser's preference, then English.

    Args:
        query_lang: The ``lang`` query parameter, if any (e.g. ``es`` or ``es-MX``).
        accept_language: The ``Accept-Language`` header, e.g. ``es-ES,es;q=0.9,en;q=0.8``.

    Returns:
        A code in :data:`SUPPORTED`.
    """
    if query_lang and _base(query_lang) in CATALOGUE:
        return _base(query_lang)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, _base(tag)))
    for _, _, code in sorted(ranked):
        if code in CATALOGUE:
            return code
    return DEFAULT_LANGUAGE


def t(lang: str, key: str) -> str:
    """Translate one key, falling back to English, then to the key itself.

    Args:
        lang: A language code (unsupported codes fall back to English).
        key: Catalogue key.

    Returns:
        The string.
    """
    return CATALOGUE.get(lang, _EN).get(key, _EN.get(key, key))


def strings(lang: str, prefix: str) -> dict[str, str]:
    """Every string under a key prefix, for a page's state (keys without the prefix).

    Args:
        lang: A language code.
        prefix: e.g. ``"verify."``.

    Returns:
        Mapping of the remaining key to its translation.
    """
    return {key[len(prefix) :]: t(lang, key) for key in _EN if key.startswith(prefix)}


def status_message(lang: str, status: str, *, on_phone: bool = False) -> tuple[str, str]:
    """The human message and next step for a Didit status.

    Args:
        lang: A language code.
        status: Didit's exact status string ("" while unknown).
        on_phone: For ``In Progress``: the flow was started on another device, not in this page.

    Returns:
        ``(message, next_step)``.
    """
    key = status if f"status.{status}" in _EN else "unknown"
    next_key = f"next.{key}"
    if key == "In Progress" and on_phone:
        next_key = "next.In Progress.phone"
    return t(lang, f"status.{key}"), t(lang, next_key)


def scope_words(lang: str, scope: str) -> list[str]:
    """Plain words for a space-separated Auth + Data scope string, in order, without duplicates.

    Args:
        lang: A language code.
        scope: e.g. ``"names email phone"``.

    Returns:
        One phrase per scope; unknown scopes are shown as they are.
    """
    words = SCOPE_WORDS.get(lang, SCOPE_WORDS["en"])
    seen: list[str] = []
    for item in scope.split():
        phrase = words.get(item, SCOPE_WORDS["en"].get(item, item))
        if phrase not in seen:
            seen.append(phrase)
    return seen
