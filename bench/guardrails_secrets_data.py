"""Labelled secrets for `bench/guardrails_secrets_output.py`: fake credentials of public formats, and look-alikes.

The formats come from other projects' detectors (`data/guardrails/secret-formats.json`: detect-secrets, llm-guard
and garak's dora regexes), never from our scanner: each format has a value template, and every generated value
must match its source's regular expression, so the set is what those tools call a credential. Private keys and
JWTs are real (`fake_keys.py`), so their bodies look exactly like what a user would paste.

Everything is drawn from one `random.Random(seed)`: the set is the same on every run.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

from bench.fake_keys import RsaKey, jwt, openssh_ed25519, pem, private_key, rsa_public_spki

DATA = Path(__file__).parent / "data" / "guardrails"

CLASSES = {
    "A": string.ascii_uppercase + string.digits,
    "a": string.ascii_letters + string.digits,
    "l": string.ascii_lowercase + string.digits,
    "h": "0123456789abcdef",
    "d": string.digits,
    "b": string.ascii_letters + string.digits + "+/",
    "u": string.ascii_letters + string.digits + "_-",
    "L": string.ascii_letters,
    "g": "abcdefgh0123456789",
    "B": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
    "p": string.ascii_letters + string.digits + "-_.~!",
}
"""Template classes: `{a36}` is 36 characters of class `a`. `[[...]]` marks the secret inside a longer value."""
_SLOT = re.compile(r"\{([A-Za-z])(\d+)\}")
_MARK = re.compile(r"\[\[(.*?)\]\]")


@dataclass(frozen=True)
class Sample:
    """A text, and the secrets in it as (start, end) spans; `kind` is the format (positives) or look-alike kind."""

    text: str
    kind: str
    context: str = ""
    spans: tuple[tuple[int, int], ...] = ()
    leak_markers: tuple[str, ...] = ()
    """Strings that must not survive redaction: the secret, or each line of a private key's body."""
    group: str = ""


@dataclass(frozen=True)
class Format:
    name: str
    group: str
    source: str
    source_regex: str
    template: str
    shape: str
    keyed: bool
    env: str
    snake: str
    label: str
    value_regex: str = ""
    """Set where the source's regex needs surrounding text (a keyword, an `.npmrc` line): the secret must match it."""
    extra_contexts: dict[str, str] = field(default_factory=dict)

    def valid(self, value: str, secret: str) -> bool:
        """Whether the source would call this a credential of its format (passwords have no format)."""
        if self.shape == "password":
            return True
        if self.value_regex:
            return re.fullmatch(self.value_regex, secret) is not None
        return re.search(self.source_regex, value) is not None


def load_formats() -> list[Format]:
    return [Format(**f) for f in json.loads((DATA / "secret-formats.json").read_text())["formats"]]


# --- values and contexts -----------------------------------------------------------------------------------------


def fill(template: str, rng: random.Random) -> str:
    return _SLOT.sub(lambda m: "".join(rng.choice(CLASSES[m.group(1)]) for _ in range(int(m.group(2)))), template)


def password(kind: str, fake: Faker, rng: random.Random) -> str:
    """A password as people and generators write them (no format: the keyword is what marks it)."""
    if kind == "random":
        return str(fake.password(length=rng.randrange(12, 20), special_chars=True))
    if kind == "passphrase":
        return "-".join(fake.words(nb=4, unique=True))
    return f"{fake.word().capitalize()}{rng.randrange(1970, 2026)}{rng.choice('!?#$%&*')}"


TOKEN_CONTEXTS = {
    "prose": "I think this leaked into yesterday's logs: {v} - how do I rotate it?",
    "prose_label": "My {label} is {v} and every request now returns 401, what am I doing wrong?",
    "env": "{ENV}={v}",
    "export": 'export {ENV}="{v}"',
    "yaml": "billing:\n  endpoint: https://api.example.com\n  {snake}: {v}\n  timeout: 30",
    "json": '{{"endpoint": "https://api.example.com", "{snake}": "{v}", "timeout": 30}}',
    "python": 'client = ApiClient({snake}="{v}", timeout=30)',
    "header": 'curl -s -H "Authorization: Bearer {v}" https://api.example.com/v1/me',
    "code_comment": "# temporary, remove before merging: {v}\nresponse = session.get(url)",
}
URL_CONTEXTS = {
    "prose": "The service cannot connect with {v} since this morning, any idea why?",
    "env": "{ENV}={v}",
    "yaml": "services:\n  api:\n    environment:\n      - {ENV}={v}",
    "json": '{{"name": "reports", "{snake}": "{v}"}}',
    "python": 'engine = create_engine("{v}", pool_size=5)',
    "shell": 'CONN="{v}" ./scripts/migrate.sh --dry-run',
}
BLOCK_CONTEXTS = {
    "prose": "Here is the key ssh complains about:\n{v}\nWhy does it say invalid format?",
    "file": "$ cat ~/.ssh/id_deploy\n{v}",
    "json_escaped": '{{"type": "service_account", "project_id": "billing-prod", "private_key": "{v_escaped}"}}',
    "yaml_block": "tls:\n  key: |\n{v_indented}",
    "python": 'SIGNING_KEY = """{v}"""',
}
PASSWORD_CONTEXTS = {
    "prose": "my password is {v} but the login page keeps rejecting it",
    "env": "DB_PASSWORD={v}",
    "export": "export PGPASSWORD='{v}'",
    "yaml": "database:\n  user: app\n  password: {v}",
    "json": '{{"user": "app", "password": "{v}"}}',
    "python": 'conn = psycopg.connect(host="db", user="app", password="{v}")',
    "ini": "[database]\nuser = app\npassword = {v}",
    "xml": "<datasource><username>app</username><password>{v}</password></datasource>",
    "cli": "mysql -u root -p'{v}' shop",
    "docker": "docker run -e POSTGRES_PASSWORD={v} -d postgres:16",
}
_UNKEYED = {"prose", "code_comment", "header"}


def _contexts(fmt: Format) -> dict[str, str]:
    table = {"token": TOKEN_CONTEXTS, "url": URL_CONTEXTS, "block": BLOCK_CONTEXTS}.get(fmt.shape, PASSWORD_CONTEXTS)
    if fmt.shape == "token" and fmt.keyed:
        table = {k: v for k, v in table.items() if k not in _UNKEYED}
    return {**table, **fmt.extra_contexts}


def positives(seed: int = 2026) -> Iterator[Sample]:
    """Every format in every context that suits it; each value checked against the format's source regex."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rsa_keys = [RsaKey.generate(rng) for _ in range(6)]

    def rsa() -> RsaKey:
        return rng.choice(rsa_keys)

    for fmt in load_formats():
        for context, template in _contexts(fmt).items():
            for _ in range(50):
                if fmt.template.startswith("key:"):
                    value = private_key(fmt.template[4:], rng, rsa)
                elif fmt.template.startswith("jwt:"):
                    value = jwt(fmt.template[4:], rng, rsa)
                elif fmt.template.startswith("password:"):
                    value = password(fmt.template[9:], fake, rng)
                else:
                    value = fill(fmt.template, rng)
                marked = _MARK.search(value)
                secret = marked.group(1) if marked else value
                value = _MARK.sub(r"\1", value)
                if fmt.valid(value, secret):
                    break
            else:
                raise RuntimeError(f"{fmt.name}: no value matching its source regex")
            yield _embed(fmt, context, template, value, secret)


def _embed(fmt: Format, context: str, template: str, value: str, secret: str) -> Sample:
    shown = value
    if "{v_escaped}" in template:
        shown = value.replace("\n", "\\n")
        template = template.replace("{v_escaped}", "{v}")
    elif "{v_indented}" in template:
        shown = "\n".join("    " + line for line in value.split("\n"))
        template = template.replace("{v_indented}", "{v}")
    text = template.replace("{label}", fmt.label).replace("{ENV}", fmt.env).replace("{snake}", fmt.snake)
    text = text.replace("{{", "{").replace("}}", "}")
    start = text.index("{v}")
    text = text.replace("{v}", shown)
    if fmt.shape == "block":
        lines = shown.replace("\\n", "\n").split("\n")
        body = [line.strip() for line in lines if len(line.strip()) >= 40 and "-----" not in line and ":" not in line]
        # The secret is the whole block; a finding anywhere in it counts, but every body line must be redacted.
        return Sample(text, fmt.name, context, ((start, start + len(shown)),), tuple(body), fmt.group)
    at = start + shown.index(secret)
    return Sample(text, fmt.name, context, ((at, at + len(secret)),), (secret,), fmt.group)


# --- look-alikes ------------------------------------------------------------------------------------------------


def _pydoc_prose() -> tuple[list[str], list[str]]:
    """CPython reference sentences and code lines (`pydoc_data.topics`)."""
    from pydoc_data.topics import topics  # noqa: PLC0415 - the standard library's own documentation

    sentences, code = [], []
    for _, text in sorted(topics.items()):
        for paragraph in re.split(r"\n\s*\n", text):
            if paragraph.startswith(" "):
                code += [line.strip() for line in paragraph.split("\n") if len(line.strip()) > 20]
            else:
                joined = " ".join(paragraph.split())
                sentences += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"])", joined) if 40 <= len(s) <= 300]
    return sentences, code


def lookalikes(seed: int = 2026) -> Iterator[Sample]:
    """Texts no secret scanner should flag: hashes, ids, encoded prose, placeholders, code, public keys, docs."""
    rng = random.Random(seed + 1)
    sentences, code = _pydoc_prose()

    def hexs(n: int) -> str:
        return "".join(rng.choice("0123456789abcdef") for _ in range(n))

    generated: dict[str, list[Callable[[], str]]] = {
        "git_sha": [
            lambda: f"Fixed in {hexs(40)}, see the changelog.",
            lambda: f"git cherry-pick {hexs(40)}",
            lambda: f"Merge commit '{hexs(7)}' into main",
            lambda: f"pip install git+https://github.com/acme/tool@{hexs(40)}",
        ],
        "uuid": [
            lambda: f"request_id={uuid.UUID(int=rng.getrandbits(128), version=4)}",
            lambda: f"Trace {uuid.UUID(int=rng.getrandbits(128), version=4)} shows the timeout.",
            lambda: f'{{"id": "{uuid.UUID(int=rng.getrandbits(128), version=4)}", "status": "queued"}}',
            lambda: f"DELETE /v1/jobs/{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        ],
        "digest": [
            lambda: f"FROM python:3.11-slim@sha256:{hexs(64)}",
            lambda: f"requests==2.32.3 --hash=sha256:{hexs(64)}",
            lambda: f"SHA256 checksum: {hexs(64)}",
            lambda: f'"integrity": "sha512-{base64.b64encode(rng.randbytes(64)).decode()}"',
            lambda: f'ETag: "{hexs(32)}"',
        ],
        "base64_prose": [
            lambda: f'The payload decodes to "{base64.b64encode(rng.choice(sentences).encode()).decode()}".',
            lambda: f"data:text/plain;base64,{base64.b64encode(rng.choice(sentences).encode()).decode()}",
            lambda: f"echo {base64.b64encode(rng.choice(sentences).encode()).decode()} | base64 -d",
        ],
        "build_artifact": [
            lambda: f'<script src="/static/js/main.{hexs(8)}.chunk.js"></script>',
            lambda: f"pod/web-{hexs(10)}-{fill('{l5}', rng)} restarted 3 times",
            lambda: f"image: registry.example.com/billing/api:{hexs(12)}",
            lambda: f"arn:aws:iam::{fill('{d12}', rng)}:role/billing-deployer",
        ],
        "publishable_key": [
            lambda: f"Stripe.js needs the publishable key pk_live_{fill('{a24}', rng)} on the checkout page.",
            lambda: f"STRIPE_PUBLISHABLE_KEY=pk_test_{fill('{a24}', rng)}",
        ],
    }
    for kind, makers in generated.items():
        for i in range(24 if kind != "publishable_key" else 8):
            yield Sample(makers[i % len(makers)](), kind)
    key = RsaKey.generate(rng)
    public_line = openssh_ed25519(rng, "alice@laptop")[1]
    yield Sample(pem("PUBLIC KEY", rsa_public_spki(key)), "public_key")
    yield Sample(f"Add this to authorized_keys:\n{public_line}", "public_key")
    yield Sample(f'ssh_authorized_keys:\n  - "{public_line}"', "public_key")
    for line in (DATA / "secret-lookalikes.jsonl").read_text().splitlines():
        row = json.loads(line)
        yield Sample(row["text"], row["kind"])
    for sentence in rng.sample(sentences, 300):
        yield Sample(sentence, "cpython_docs")
    for line in rng.sample(code, 100):
        yield Sample(line, "cpython_code")
