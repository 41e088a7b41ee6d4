"""Validates MPD files against the MPEG-DASH schema beside this script (DASH-MPD.xsd, see
LICENSE), with xmlschema from PyPI. The schema imports W3C's XLink schema by URL; the copy
xmlschema ships is used instead (no network).

usage: validate.py MPD...   (exit 1 and the reasons when one is invalid)
"""
import os
import sys

import xmlschema

here = os.path.dirname(os.path.abspath(__file__))
xlink = os.path.join(os.path.dirname(xmlschema.__file__), "schemas", "XLINK", "xlink.xsd")
schema = xmlschema.XMLSchema(
    os.path.join(here, "DASH-MPD.xsd"),
    locations={"http://www.w3.org/1999/xlink": xlink},
)
failed = False
for path in sys.argv[1:]:
    errors = list(schema.iter_errors(path))
    for e in errors[:10]:
        print(f"{path}: {e.reason} at {e.path}", file=sys.stderr)
    failed = failed or bool(errors)
sys.exit(1 if failed else 0)
