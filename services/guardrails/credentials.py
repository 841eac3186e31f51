"""Secrets in text: keys and tokens by their vendor's format, whole private keys, passwords in URLs, and values
given to secret-named keys (`DB_PASSWORD=`, `"apiKey": "…"`, `my password is …`); pure.

A match must read as a literal credential: not code computing one (`os.environ[...]`, `getpass.getpass()`), a
template (`${VAR}`, `{{ vault }}`), a placeholder (`<password>`, `XXXX…`, `…EXAMPLE`, `changeme`) or a type.
Passwords need no entropy (people choose them); tokens must look generated.
"""

# ruff: noqa: E501 - pattern tables: one regex per line reads better than a regex split across lines

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from services.guardrails.scanners import Finding, without_overlaps

_TOKEN_END = r"(?![\w-])"
SECRET_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, tuple(needles.split()), re.compile(pattern))
    for name, needles, pattern in (
        ("aws_access_key", "AKIA ASIA AGPA AIDA AROA AIPA ANPA ANVA APKA ABIA ACCA", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[0-9A-Z]{16}\b"),
        ("github_token", "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
        ("gitlab_token", "glpat- glptt- gldt- glrt- glcbt- gloas- glft- glimt- glagent- glsoat- glffct- GR1348941", rf"\bgl(?:pat|ptt|dt|rt|cbt|oas|ft|imt|agent|soat|ffct|rtr)-[\w-]{{20,}}{_TOKEN_END}|\bGR1348941[\w-]{{20,}}{_TOKEN_END}"),
        ("slack_token", "xox xapp-", r"\bxox[abposre]-[A-Za-z0-9-]{10,}\b|\bxapp-\d-[A-Za-z0-9-]{20,}\b"),
        ("slack_webhook", "hooks.slack.com", r"\bhooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}"),
        ("discord_webhook", "/api/webhooks/", r"\b(?:discord(?:app)?\.com)/api/webhooks/\d{5,30}/[\w-]{20,}"),
        ("stripe_key", "sk_live_ sk_test_ rk_live_ rk_test_ whsec_", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}\b|\bwhsec_[A-Za-z0-9]{24,}\b"),
        ("google_api_key", "AIza", rf"\bAIza[\w-]{{35}}{_TOKEN_END}"),
        ("google_oauth_token", "ya29. GOCSPX-", rf"\bya29\.[\w-]{{30,}}{_TOKEN_END}|\bGOCSPX-[\w-]{{24,}}{_TOKEN_END}"),
        ("anthropic_key", "sk-ant-", rf"\bsk-ant-(?:api|admin|sid)\d\d-[\w-]{{40,}}{_TOKEN_END}"),
        ("openai_key", "sk-", rf"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[\w-]{{32,}}{_TOKEN_END}"),
        ("huggingface_token", "hf_ api_org_", r"\b(?:hf_|api_org_)[A-Za-z0-9]{30,}\b"),
        ("jwt", "eyJ", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("sendgrid_key", "SG.", rf"\bSG\.[\w-]{{16,}}\.[\w-]{{30,}}{_TOKEN_END}"),
        ("twilio_key", "SK", r"\bSK[0-9a-fA-F]{32}\b"),
        ("npm_token", "npm_", r"\bnpm_[A-Za-z0-9]{36,}\b"),
        ("pypi_token", "pypi-AgE", rf"\bpypi-AgE[\w-]{{50,}}{_TOKEN_END}"),
        ("shopify_token", "shpat_ shpca_ shppa_ shpss_", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
        ("databricks_token", "dapi", r"\bdapi[a-h0-9]{32}(?:-\d)?\b"),
        ("digitalocean_token", "doo_v1_ dop_v1_ dor_v1_", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
        ("doppler_token", "dp.", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}\b"),
        ("vault_token", "hvs. hvb. hvr.", rf"\bhv[sbr]\.[\w-]{{24,}}{_TOKEN_END}"),
        ("linear_key", "lin_api_ lin_oauth_", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b"),
        ("postman_key", "PMAK-", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
        ("telegram_bot_token", ":AA", rf"\b\d{{8,10}}:AA[\w-]{{32,33}}{_TOKEN_END}"),
        ("age_secret_key", "AGE-SECRET-KEY-1", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
        ("newrelic_key", "NRAK- NRAA- NRII-", r"\bNR(?:AK|AA|II)-[A-Z0-9]{27}\b"),
        ("mailgun_key", "key-", r"\bkey-[0-9a-f]{32}\b"),
        ("azure_key", "AccountKey= SharedAccessKey= sig=", r"(?<=AccountKey=)[A-Za-z0-9+/]{40,}={0,2}|(?<=SharedAccessKey=)[A-Za-z0-9+/]{30,}={0,2}|(?<=[?&]sig=)[A-Za-z0-9%+/]{30,}"),
    )
)  # fmt: skip
"""Formats a token announces itself by (a vendor prefix, a fixed shape); a match is a secret unless it is a
placeholder (`sk_live_XXXX…`, `…EXAMPLE`). Stripe's publishable `pk_` keys are public by design."""

_GENERIC_TOKEN = re.compile(
    r"(?<![\w.-])(?!pk[_-]|pub(?:lic|lishable)?[_-])[a-z][a-z0-9]{1,9}(?:[_-][a-z0-9]{1,9}){0,2}[_-]([A-Za-z0-9][\w-]{23,})(?![\w+/=-])"
)
"""An unknown vendor's `prefix_` + random body (digits, upper and lower case): the shape most API keys share;
publishable (`pk_`) keys are public by design."""
_LONG_RUN = re.compile(r"[_-][A-Za-z0-9]{20}")

_PRIVATE_KEY = re.compile(r"-{4,5} ?BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)? ?-{4,5}")
_PUTTY_KEY = re.compile(r"PuTTY-User-Key-File-\d+:")
_PUTTY_END = re.compile(r"Private-(?:MAC|Hash):\s*[0-9a-fA-F]+")
_KEY_BODY = re.compile(
    r"(?:(?:\\r)?(?:\\n|\r?\n)[ \t]*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\n\\]*))*(?:(?:\\n|\n)[ \t]*[A-Za-z0-9+/=]+)?"
)
"""A key's body when its END line is missing (a truncated paste): base64 lines and `Header: value` lines."""
_MAX_KEY_CHARS = 20_000
_LINE_REST = re.compile(r"[^\n\\]*")

_KEY_WORD = (
    r"pass(?:word|wd|phrase)|(?:(?<=[_.-])|(?<![\w.-]))pass|pwd|secret|token|credentials?|apikey"
    r"|(?:api|access|secret|private|auth|account|master|signing|encryption|client|app|license|service|subscription)"
    r"[ _.-]?key"
)
_KEY_SUFFIX = r"(?:[_.-](?:base|value|b64|base64|hex|raw|plain|encoded))?"
_ASSIGNED_SECRET = re.compile(
    rf"(?<![\w.\[-])(?P<key>[\w.-]*?(?:{_KEY_WORD}){_KEY_SUFFIX})(?![A-Za-z0-9])[\"'\]]*"
    r"(?P<op>\s*(?::=|=>|=(?![=~])|:(?![:/]))\s*|\s+(?:is|was)\s+(?:set to\s+)?)"
    r"(?:\"(?P<dq>[^\"\n]{1,300})\"|'(?P<sq>[^'\n]{1,300})'|(?P<bare>[^\s\"'`<>]{1,300}))",
    re.IGNORECASE,
)
"""A value given to a name ending in a secret word (`DB_PASSWORD=`, `"apiKey": "…"`, `aws_secret_access_key =`,
`my password is …`); the value is then judged (`_credible`)."""
_XML_SECRET = re.compile(rf"<(?P<key>[\w.-]*?(?:{_KEY_WORD}))>(?P<value>[^<\n]{{1,300}})</(?P=key)>", re.IGNORECASE)
_CLI_SECRET = re.compile(
    r"(?<!\S)(?:-p ?(?P<q>['\"])(?P<quoted>[^'\"\n]{1,300})(?P=q)|--(?:password|passwd|pass|token|api-key|secret)[= ](?P<value>[^\s'\"]{1,300}))"
    r"|\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p(?P<mysql>[^\s'\"]{1,300})"
    r"|(?<!\S)(?:-u|--user)\s+['\"]?[^\s:'\"]+:(?P<basic>[^\s'\"]{1,300})"
    r"|\blogin\s+\S+\s+password\s+(?P<netrc>\S{1,300})"
)  # fmt: skip
"""Command lines and files that take a password without `=`: `-p'…'`, `--password …`, `mysql -p…`, `curl -u
user:…`, `.netrc`."""
_AUTH_HEADER = re.compile(r"\b(?:Authorization|Proxy-Authorization)[\"']?\s*[:=]\s*[\"']?(?:Bearer|Basic|Token|Bot)\s+([\w.~+/=-]{12,})", re.IGNORECASE)  # fmt: skip
_URL_CREDENTIALS = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://(?P<user>[^\s:/?#@'\"<>]*):(?P<password>[^\s@/?#'\"<>]+)@[^\s/'\"<>]"
)

_PASSWORD_KEY = re.compile(r"pass(?:word|wd|phrase)?$|pwd$", re.IGNORECASE)
_PLACEHOLDER = re.compile(
    r"(.)\1{5,}|example|sample|dummy|placeholder|change[_-]?me|redacted|replace|your[_ -]|insert[_ -]|\.\.\.|…"
    r"|^(?:none|null|nil|true|false|undefined|empty|secret|password|passwd|pass|token|string|str|bytes|test|default)$",
    re.IGNORECASE,
)
_TEMPLATE = re.compile(
    r"^(?:\$\{|\$\(|\{\{|\{%|<%|%\(|#\{|\$[A-Za-z_]+$|%[A-Za-z_]+%$|![a-z]+$)|<[^<>]*>|\{\{.*\}\}|\{\w*\}"
)
_IDENTIFIER_WORD = re.compile(r"[A-Za-z]|(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}(?=[A-Z][a-z]|$))+")
"""A word or an identifier's part (`Private`, `HTTPServer`, `X`), as opposed to generated letters (`ooiC`)."""
_TYPE_NAME = re.compile(r"(?:[A-Z]+[a-z0-9]*){2,}")
_CODE_TAIL = re.compile(r"[^\[(]*[\])](?:[.\[(,;]|$)|[A-Za-z_]\w*=$")
"""`end].as_doc()` (a slice's end), `OtherKey=` (the next field): where a value is code, not a secret."""
_NAME = r"[A-Za-z_$][\w$]*"
_CODE = re.compile(
    rf"(?:new\s+)?{_NAME}(?:(?:\.|::|->){_NAME})+[,;]?|(?:new\s+)?{_NAME}(?:(?:\.|::|->){_NAME})*\s*[(\[].*"
)


def shannon_entropy(text: str) -> float:
    """Bits per character: random keys score high (> 3.5), words and placeholders low."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def _random_looking(text: str) -> bool:
    """Digits, upper and lower case and a high entropy: how generated keys look and words and ids do not."""
    return (
        any(c.isdigit() for c in text)
        and any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and shannon_entropy(text) >= 3.8
    )


def _identifier(text: str) -> bool:
    """Words and numbers joined the way names are (`get_UserSettings_2024`), not generated characters."""
    return all(
        _IDENTIFIER_WORD.fullmatch(p) or p.isdigit()
        for p in re.split(r"[-_]+|(?<=\d)(?=[A-Za-z])|(?<=[a-z])(?=\d)", text)
        if p
    )


def _is_code(value: str) -> bool:
    """`os.environ["X"]`, `getpass.getpass()`, `settings.SECRET_KEY`: a program computing the secret, not it."""
    if not _CODE.fullmatch(value.rstrip()):
        return False
    if "(" in value or "[" in value:
        head, _, rest = value.partition("(" if "(" in value else "[")
        # `aB3(x9` is a password with a parenthesis; a call is dotted, closes, quotes or lists its arguments, or
        # goes on past a space (`min(a + b)`)
        return (
            "." in head
            or rest[:1] in ")]\"'"
            or value.endswith((")", "]", ",", " "))
            or bool(re.search(r"[,(\[.='\"]", rest))
        )
    return True


def _not_a_literal(value: str, *, password: bool, bare: bool, annotated: bool) -> bool:
    """Code, a template, a placeholder, a type or a number where a secret would stand."""
    return (
        not (6 if password else 10) <= len(value) <= 300
        or (bare and (value[0] in "([{)]}\\" or _is_code(value) or bool(_CODE_TAIL.match(value))))
        or (annotated and bare and bool(_TYPE_NAME.fullmatch(value)))
        or bool(_PLACEHOLDER.search(value) or _TEMPLATE.search(value))
        or value.isdigit()
        or (" " in value and not password)
    )


def _credible(value: str, *, password: bool, prose: bool = False, bare: bool = False, annotated: bool = False) -> bool:
    """Whether a value given to a secret-named key reads as a literal credential: not code, a template, a
    placeholder or a word. Passwords need no entropy (people choose them); tokens do. `bare`: unquoted, where
    code (`(float(x)`, `\\s*`) may stand; `annotated`: after `name:`, where a type may (`key: Ed25519PrivateKey`)."""
    if _not_a_literal(value, password=password, bare=bare, annotated=annotated):
        return False
    if re.fullmatch(r"[A-Za-z]+(?:[-_. ]+[A-Za-z]+)*", value.strip("_")):
        # a word or an identifier, unless its letters are mixed the way generators mix them (`ooiC`, `xQzT`), or
        # a passphrase: three words or more joined by `-`, `.` or spaces (`_` joins identifiers)
        segments = re.split(r"[-_. ]+", value.strip("_"))
        random_case = len(value) >= 10 and not value.islower() and not all(map(_IDENTIFIER_WORD.fullmatch, segments))
        return random_case or (password and len(segments) >= 3 and "_" not in value)
    if prose and not re.search(r"\d|[^\w\s-]", value):
        return False  # after `is`, a secret has a digit or a symbol: "the password is incorrect" is prose
    return password or shannon_entropy(value) >= 3.0


def _bare_value(value: str) -> str:
    """An unquoted value up to the next field (`;Encrypt=`, `&ssl=`, `, user:`), without trailing punctuation."""
    value = re.split(r"[&;,](?=\s*[\w .-]+[=:])", value, maxsplit=1)[0].rstrip(".,;:")
    for opening, closing in ("()", "[]", "{}"):
        while value.endswith(closing) and value.count(closing) > value.count(opening):
            value = value[:-1]
    return value


def _private_keys(text: str) -> Iterable[tuple[int, int]]:
    """Whole private-key blocks, BEGIN to END (also `\\n`-escaped and indented), and PuTTY key files."""
    if "PRIVATE KEY" not in text and "PuTTY" not in text:
        return
    begins = list(_PRIVATE_KEY.finditer(text))
    for i, begin in enumerate(begins):
        label = re.escape(begin.group(1))
        limit = min(begin.end() + _MAX_KEY_CHARS, begins[i + 1].start() if i + 1 < len(begins) else len(text))
        end = re.compile(rf"-{{4,5}} ?END {label}PRIVATE KEY(?: BLOCK)? ?-{{4,5}}").search(text, begin.end(), limit)
        if end is not None:
            if re.search(r"[A-Za-z0-9+/]{16}", text[begin.end() : end.start()]):  # not `BEGIN = …; END = …` in code
                yield begin.start(), end.end()
        else:
            body = _KEY_BODY.match(text, begin.end())
            yield begin.start(), body.end() if body else begin.end()
    for header in _PUTTY_KEY.finditer(text):
        end = _PUTTY_END.search(text, header.end(), header.end() + _MAX_KEY_CHARS)
        if end is not None:
            yield header.start(), end.end()
            continue
        line = _LINE_REST.match(text, header.end())
        body = _KEY_BODY.match(text, line.end() if line else header.end())
        if body and re.search(r"[A-Za-z0-9+/]{40}", body.group(0)):  # a truncated key, not code that writes one
            yield header.start(), body.end()


_KEY_NEEDLES = ("pass", "pwd", "secret", "token", "key", "credential")
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "auth", "account", "master", "signing", "encryption", "client", "app"}
    | {"license", "service", "subscription"}
)
_NAME_REST = re.compile(r"[\w.-]*")


def _name_start(text: str, at: int) -> int:
    """Where the name (`[\\w.-]`, at most 100 characters back) that reaches `at` begins."""
    start = at
    while start > 0 and at - start < 100 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return start


def _assigned_matches(text: str) -> Iterator[re.Match[str]]:
    """`_ASSIGNED_SECRET` tried only where a secret word occurs, from the start of the name it ends (and, for
    `key`, from the word before: `api key is …`): a tenth of the cost of a pass over the whole text."""
    lowered = text.lower()
    starts: set[int] = set()
    for needle in _KEY_NEEDLES:
        at, name_end = lowered.find(needle), -1
        while at >= 0:
            if at < name_end:  # within the name already taken (`key_key_key…`)
                at = lowered.find(needle, at + len(needle))
                continue
            starts.add(_name_start(text, at))
            rest = _NAME_REST.match(text, at)
            name_end = rest.end() if rest else at
            if needle == "key" and at >= 2 and text[at - 1] in " _-":
                word = _name_start(lowered, at - 1)
                if lowered[word : at - 1] in _KEY_QUALIFIERS:
                    starts.add(word)
            at = lowered.find(needle, at + len(needle))
    end = -1
    for start in sorted(starts):
        if start >= end and (m := _ASSIGNED_SECRET.match(text, start)):
            end = m.end()
            yield m


def _assigned(text: str) -> Iterable[Finding]:
    """Values given to secret-named keys, in assignments, JSON, YAML, XML, command lines and prose."""
    for m in _assigned_matches(text):
        group = next(g for g in ("dq", "sq", "bare") if m.group(g) is not None)
        value = _bare_value(m.group(group)) if group == "bare" else m.group(group)
        if group == "bare" and _is_code(m.group(group) + text[m.end() : m.end() + 1]):
            continue  # `load_key(data, password)`, `Secret(b'…')`: the value is a call
        password = bool(_PASSWORD_KEY.search(m.group("key")))
        prose = bool(m.group("op").strip(" \t:=>"))
        annotated = m.group("op").strip() == ":"
        if value and _credible(value, password=password, prose=prose, bare=group == "bare", annotated=annotated):
            start = m.start(group)
            score = 0.7 if prose else 0.8
            yield Finding("secrets", "assigned_secret", score, start, start + len(value), f"value of {m.group('key')}")
    for m in _XML_SECRET.finditer(text) if "</" in text else ():
        if _credible(m.group("value").strip(), password=True):
            yield Finding("secrets", "assigned_secret", 0.8, m.start("value"), m.end("value"), "XML element value")
    for m in _CLI_SECRET.finditer(text) if "-" in text or "login" in text else ():
        group = next(g for g in ("quoted", "value", "mysql", "basic", "netrc") if m.group(g) is not None)
        if _credible(m.group(group), password=True, bare=group != "quoted"):
            yield Finding("secrets", "assigned_secret", 0.8, m.start(group), m.end(group), "command-line password")
    for m in _AUTH_HEADER.finditer(text) if "uthorization" in text or "UTHORIZATION" in text else ():
        if _credible(m.group(1), password=False):
            yield Finding("secrets", "bearer_token", 0.85, m.start(1), m.end(1), "Authorization header")


def scan_secrets(text: str) -> list[Finding]:
    """Keys, tokens, whole private keys, passwords in URLs and values assigned to secret-named keys."""
    findings = [Finding("secrets", "private_key", 0.99, a, b, "private key") for a, b in _private_keys(text)]
    for name, needles, pattern in SECRET_PATTERNS:
        if any(needle in text for needle in needles):  # a substring test costs far less than a regex pass
            findings += [
                Finding("secrets", name, 0.99, m.start(), m.end(), name)
                for m in pattern.finditer(text)
                if not _PLACEHOLDER.search(m.group(0))
            ]
    for m in _URL_CREDENTIALS.finditer(text) if "://" in text and "@" in text else ():
        password, user = m.group("password"), m.group("user")
        if password.lower() != user.lower() and not (
            _PLACEHOLDER.search(password) or _TEMPLATE.search(password) or re.match(r"\d{1,5}(?:,|$)", password)
        ):
            findings.append(Finding("secrets", "connection_string", 0.95, *m.span("password"), "password in a URL"))
    findings += [
        Finding("secrets", "generic_token", 0.75, m.start(), m.end(), "prefixed random token")
        for m in (_GENERIC_TOKEN.finditer(text) if _LONG_RUN.search(text) else ())
        if _random_looking(m.group(1)) and not _PLACEHOLDER.search(m.group(0)) and not _identifier(m.group(1))
    ]
    findings += _assigned(text)
    return without_overlaps(findings)
