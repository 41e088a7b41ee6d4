"""Judges what the web app's pages said to the API against the API's OpenAPI document, so
page and API cannot drift apart: every request a page made under /api/v1 (recorded by the
browser tests, tests/web.rs) must be an operation the document has, with only query
parameters it declares and a JSON body its schema accepts; every answer must have a status
the document lists for that operation and, when JSON, a body that status's schema accepts.
The schemas are judged by the `jsonschema` library (Draft 2020-12, OpenAPI 3.1's dialect).

  page_api_judge.py LOG.jsonl
LOG holds JSON lines {"method", "url", "request_type", "request_body", "status",
"response_type", "response_body"}. The document is read from the origin of the first URL.
Prints a JSON summary; exits 1 when any exchange does not match the document.
"""
import json
import re
import sys
import urllib.parse
import urllib.request

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:sunomi:openapi"


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pointer(*parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    exchanges = load(sys.argv[1])
    if not exchanges:
        print(json.dumps({"exchanges": 0}))
        return 0
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(exchanges[0]["url"]))
    with urllib.request.urlopen(origin + "/api/v1/openapi.json") as r:
        doc = json.load(r)
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def errors_of(ptr, instance):
        validator = Draft202012Validator({"$ref": DOC_URI + "#" + ptr}, registry=registry)
        return [e.message for e in validator.iter_errors(instance)][:3]

    templates = []
    for path in doc["paths"]:
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        # Literal segments first: /me/export before /{id}-like templates.
        templates.append((path.count("{"), re.compile(regex), path))
    templates.sort(key=lambda t: (t[0], t[2]))

    problems, operations = [], set()
    for x in exchanges:
        parts = urllib.parse.urlsplit(x["url"])
        method = x["method"].lower()
        where = f'{x["method"]} {parts.path}'
        found = next((p for _, r, p in templates if r.match(parts.path)), None)
        op = doc["paths"].get(found, {}).get(method) if found else None
        if op is None:
            problems.append(f"{where}: no such operation in the document")
            continue
        operations.add(f'{x["method"]} {found}')
        declared = {
            p["name"] for p in op.get("parameters", []) if p.get("in") == "query"
        }
        for name, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
            if name not in declared:
                problems.append(f"{where}: query parameter {name!r} is not declared")
        body = op.get("requestBody", {}).get("content", {})
        if x.get("request_body") and "json" in (x.get("request_type") or ""):
            if "application/json" not in body:
                problems.append(f"{where}: sends JSON the operation does not take")
            else:
                ptr = pointer("paths", found, method, "requestBody", "content",
                              "application/json", "schema")
                errs = errors_of(ptr, json.loads(x["request_body"]))
                if errs:
                    problems.append(f"{where}: request body: {errs}")
        status = str(x["status"])
        responses = op.get("responses", {})
        listed = status if status in responses else ("default" if "default" in responses else None)
        if listed is None:
            problems.append(f"{where}: answered {status}, which the document does not list")
            continue
        ctype = (x.get("response_type") or "").split(";")[0].strip()
        content = responses[listed].get("content", {})
        if x.get("response_body") and "json" in ctype:
            if ctype not in content:
                problems.append(f"{where}: {status} answered {ctype} the document does not give")
                continue
            schema = content[ctype].get("schema")
            if schema is not None:
                ptr = pointer("paths", found, method, "responses", listed, "content", ctype,
                              "schema")
                errs = errors_of(ptr, json.loads(x["response_body"]))
                if errs:
                    problems.append(f"{where}: {status} body: {errs}")
    print(json.dumps({
        "exchanges": len(exchanges),
        "operations": sorted(operations),
        "problems": problems,
    }))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
