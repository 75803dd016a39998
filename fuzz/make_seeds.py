#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/<harness>/seed-* (docs/testing.md#fuzzing).

The seeds come from the project's own fixtures (tests/eval/vectors, the WebAuthn
recordings in src/crypto/testdata/webauthn, the examples of docs/design) and are encoded
for each harness's input layout. Harnesses that split their input with libFuzzer's
FuzzedDataProvider read strings from the front (a backslash doubles as an escape and a
backslash followed by any other byte ends the string) and integers from the back, one byte
each for the small ranges used here. Run from the repository root; the output is
deterministic, so re-running it changes nothing unless this file or a fixture changed.
Inputs libFuzzer found (regressions) sit beside the seeds under other names and are kept.
"""
import base64
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def esc(data):
    """One FuzzedDataProvider ConsumeRandomLengthString field, terminator included."""
    if isinstance(data, str):
        data = data.encode()
    return data.replace(b"\\", b"\\\\") + b"\\\n"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def write(harness, seeds):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for i, s in enumerate(seeds):
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(s if isinstance(s, bytes) else s.encode())


def b64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_enc(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


vectors = json.load(open(os.path.join(ROOT, "tests/eval/vectors/evaluation.json")))
webauthn_dir = os.path.join(ROOT, "src/crypto/testdata/webauthn")
ceremonies = [json.load(open(os.path.join(webauthn_dir, f)))
              for f in sorted(os.listdir(webauthn_dir)) if f.endswith(".json")]

# ---- api_request_body_fuzz: raw bodies (first line doubles as Authorization).
write("api_request_body_fuzz", [
    '{"key":"shop","name":"Shop","reason":"setup"}',
    '{"to_revision":3,"reason":"roll back the bad deploy"}',
    '{"email":"ada@example.com","role":"admin"}',
    '{"name":"ci","scopes":["read","write"],"expires_in":3600}',
    'Bearer evk_abc\n{"protected":true,"name":null}',
    '{"key":"","name":"\\u00e9\\u0000","extra":1}',
    '[1,2]',
    '{"to_revision":-1,"expires_in":9223372036854775808}',
])

# ---- item_validation_fuzz: kind byte (0 env, 1 config, 2 flag, 3 segment), key byte
# (index into the harness's kKeys: new-item base dep beta production staging dev x), JSON.
items = [
    (0, 0, {"key": "qa", "name": "QA", "parent": "staging", "protected": False}),
    (0, 5, {"key": "staging", "parent": "dev"}),
    (0, 0, {"key": "prod2", "parent": None, "protected": True}),
    (1, 0, {"type": "integer", "description": "pool", "schema": {"minimum": 1, "maximum": 500},
            "values": {"production": 50, "staging": 10.0}}),
    (1, 7, {"type": "json", "schema": {"type": "object", "properties": {"port": {"type": "integer"}},
                                       "required": ["port"], "additionalProperties": False},
            "values": {"dev": {"port": 8080}}}),
    (1, 0, {"type": "string", "schema": {"pattern": "^[a-z]+$", "maxLength": 5}, "values": {"production": "abc"}}),
    (1, 0, {"type": "boolean", "values": {"dev": True}}),
    (1, 0, {"type": "number", "schema": None, "values": {"staging": 1.5e3}}),
]
for suite in vectors["suites"]:
    env = suite["env"]
    for key, flag in suite.get("flags", {}).items():
        f = json.loads(json.dumps(flag))
        if env in f.get("environments", {}):
            f["environments"] = {"production": f["environments"][env]}
        items.append((2, 0, f))
    for key, seg in suite.get("segments", {}).items():
        items.append((3, 3, seg))
items.append((2, 1, {"description": "d", "variations": [{"value": True}, {"value": False}],
                     "environments": {"production": {"on": False, "off_variation": 1,
                                                     "fallthrough": {"variation": 0}}}}))
items.append((2, 0, {"variations": [{"value": 1}, {"value": 2}],
                     "environments": {"dev": {"on": True, "prerequisites": [{"flag": "dep", "variation": 0}],
                                              "fallthrough": {"rollout": [{"variation": 0, "weight": 1},
                                                                          {"variation": 1, "weight": 99999}],
                                                              "bucket_by": "org.id", "seed": 3}}}}))
write("item_validation_fuzz", [bytes([k, i]) + compact(b) for k, i, b in items])

# ---- json_schema_fuzz: schema text, instance text.
schemas = [
    ({"type": "integer", "minimum": 1, "maximum": 65535}, 8080),
    ({"type": ["string", "null"], "minLength": 2, "maxLength": 3}, "\u00e9\u00e9"),
    ({"enum": ["red", 1, None, {"a": [1, 2]}]}, {"a": [1, 2.0]}),
    ({"const": 9007199254740993}, 9007199254740993),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5}, 1.5),
    ({"type": "object", "properties": {"port": {"type": "integer"}, "host": {"type": "string", "pattern": "^[a-z.]+$"}},
      "required": ["port"], "additionalProperties": False}, {"port": 1, "host": "db.local"}),
    ({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3}, [1, 2.5]),
    ({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t", "default": 1,
      "additionalProperties": {"type": "boolean"}}, {"a": True}),
    (True, None),
    ({"$ref": "#/x"}, 1),
]
write("json_schema_fuzz", [esc(compact(s)) + compact(i) for s, i in schemas])

# ---- webauthn_fuzz and cbor_fuzz: the recordings. Trailing bytes: mode (1 registration,
# 0 assertion), then ceremony index (files in sorted order) as the last byte.
webauthn, cbor = [], []
for idx, c in enumerate(ceremonies):
    reg = c["registration"]
    att = b64u(reg["attestationObject"])
    webauthn.append(esc(b64u(reg["clientDataJSON"])) + att + bytes([1, idx]))
    a = c["assertions"][0]
    webauthn.append(esc(b64u(a["clientDataJSON"])) + esc(b64u(a["authenticatorData"])) +
                    b64u(a["signature"]) + bytes([0, idx]))
    cbor.append(att)
cbor += [bytes.fromhex(h) for h in ["a201020326", "83010203", "a1616101", "5f", "f97c00", "c11a514b67b0",
                                    "1bffffffffffffffff", "3b7fffffffffffffff", "a2010101 02".replace(" ", ""),
                                    "8181818181818181818181818181818181"]]
write("webauthn_fuzz", webauthn)
write("cbor_fuzz", cbor)

# ---- jwt_fuzz: mode byte last (0 token, 1 header+payload signed by the harness, 2 JWKS).
# The harness key is the Ed25519 seed of 32 bytes 0x07; its kid is the RFC 7638 thumbprint.
def ed25519_sign_and_pub(message):
    der = bytes.fromhex("302e020100300506032b657004220420") + b"\x07" * 32
    with tempfile.TemporaryDirectory() as t:
        key = os.path.join(t, "k.der")
        msg = os.path.join(t, "m")
        open(key, "wb").write(der)
        open(msg, "wb").write(message)
        sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", key,
                              "-in", msg], check=True, capture_output=True).stdout
        pub = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout[-32:]
    return sig, pub


_, pub = ed25519_sign_and_pub(b"x")
x = b64u_enc(pub).decode()
import hashlib
kid = b64u_enc(hashlib.sha256(compact({"crv": "Ed25519", "kty": "OKP", "x": x})).digest()).decode()
header = {"alg": "EdDSA", "typ": "JWT", "kid": kid}
claims = {"iss": "edgevault", "sub": "usr_1", "aud": "api", "org": "org_1", "roles": ["admin"],
          "scopes": ["read"], "iat": 1799999990, "exp": 1800000290, "jti": "j1", "ext": {"a": [1]}}
jwt = []
signing_input = b64u_enc(compact(header)) + b"." + b64u_enc(compact(claims))
sig, _ = ed25519_sign_and_pub(signing_input)
jwt.append(signing_input + b"." + b64u_enc(sig) + bytes([0]))
jwt.append(esc(compact(header)) + compact(claims) + bytes([1]))
jwt.append(esc(compact(header)) + compact(dict(claims, aud=["x", "api"], nbf=1799999000.5, exp=1e14)) + bytes([1]))
jwt.append(esc(compact({"alg": "none", "kid": kid})) + compact(claims) + bytes([1]))
jwt.append(compact({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"},
                             {"kty": "EC", "crv": "P-256"}]}) + bytes([2]))
write("jwt_fuzz", jwt)

# ---- export_roundtrip_fuzz: (key, value) pairs, then the pair count byte (1 + b % 8).
pairs = [("database.pool-size", "12"), ("db.password", 'line1\nsay "hi" $HOME `x` \\ end'),
         ("api-url", "http://localhost:8081/v1?x=1&y=2"), ("motd", "h\u00e9llo \u2028 w\u00f6rld\t#not a comment"),
         ("empty", ""), ("yaml.tricky", "key: value\n- item\n'quoted' \"double\" # hash")]
export = []
for i in range(0, len(pairs), 2):
    chunk = pairs[i:i + 2]
    export.append(b"".join(esc(k) + esc(v) for k, v in chunk) + bytes([len(chunk) - 1]))
write("export_roundtrip_fuzz", export)

# ---- delivery_document_fuzz: document, OFREP body, flag key, If-None-Match.
delivery = []
for suite in vectors["suites"]:
    doc = {"format": 1, "workspace_id": "ws_1", "workspace": "shop", "environment": suite["env"],
           "version": 7, "configs": {"db.host": {"type": "string", "value": "db.prod", "from": suite["env"]}},
           "flags": suite.get("flags", {}), "segments": suite.get("segments", {})}
    for case in suite["cases"][:4]:
        ctx = dict(case["context"])
        if "key" in ctx:
            ctx["targetingKey"] = ctx.pop("key")
        delivery.append(esc(compact(doc)) + esc(compact({"context": ctx})) + esc(case["flag"]) + b'"x"')
delivery.append(esc(b'{"format":2}') + esc(b"") + esc(b"f") + b"*")
delivery.append(esc(b'{"format":1,"flags":{"a":{"variations":[{"value":1,"name":"one"}],"environments":{}}},'
                    b'"configs":{"a":{"value":[1]}}}') + esc(b'{"context":{"targetingKey":7}}') + esc(b"a") + b"")
write("delivery_document_fuzz", delivery)

# ---- http_server_fuzz: raw bytes on the connection.
C = "\r\n"
write("http_server_fuzz", [
    "GET /healthz HTTP/1.1" + C + "Host: a" + C + C,
    "GET /v1/items/a%2Fb?q=x+y&q=2 HTTP/1.1" + C + "Host: a" + C + "X-Request-Id: req-1" + C + C +
    "HEAD /v1/items/z HTTP/1.1" + C + C,
    "POST /v1/echo HTTP/1.1" + C + "Content-Type: application/json" + C + "Content-Length: 7" + C + C + '{"a":1}' +
    "POST /v1/echo HTTP/1.1" + C + "Content-Length: 3" + C + "Connection: close" + C + C + "[1]",
    "PUT /v1/files/a/b/c HTTP/1.1" + C + "Transfer-Encoding: chunked" + C + C + "3" + C + "abc" + C + "0" + C + C,
    "POST /v1/async HTTP/1.1" + C + "Expect: 100-continue" + C + "Content-Length: 2" + C + C + "hi",
    "GET /v1/stream HTTP/1.1" + C + "Last-Event-ID: 3" + C + C,
    "POST /internal/v1/changed HTTP/1.1" + C + "Content-Length: 0" + C + C,
    "DELETE /v1/items/1 HTTP/1.0" + C + "Connection: keep-alive" + C + C + "GET /nowhere HTTP/1.1" + C + C,
    "OPTIONS /v1/echo HTTP/1.1" + C + C,
    "GET / HTTP/1.1" + C + "Host: a" + C + "X: " + "y" * 5000 + C + C,
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "GET /metrics HTTP/1.1" + C + C,
])
print("seeds written under", CORPUS)
