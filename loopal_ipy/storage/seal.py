"""The store's seal: a digest that lets a load trust what this package itself wrote (docs/durable.md).

A save ends ``cron.json`` with ``"seal": "<hex>"``: a BLAKE2b digest of the file's bytes
before it and of the journal's first ``offset`` bytes (the part the file already
reflects), keyed by the Python version (code that compiled under one Python may not
under another). When a load finds the seal intact, every entry is exactly one a create
checked, so compiling each job's code again and parsing the journal's superseded state
lines are skipped; a file edited by hand, cut short, or written by an older loopal_ipy
has no intact seal and is checked in full. Not a security boundary (a job's code runs
anyway, and the files are the user's own, checked for owner and mode): a receipt.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys

_PERSON = f"loopal{sys.version_info[0]}.{sys.version_info[1]}".encode()  # at most 16 bytes
_CLOSE = b"\n}\n"  # how dump_json ends a document
_SEALED = re.compile(rb',\n "seal": "([0-9a-f]{32})"\n}\n\Z')
CHUNK = 1 << 20


def journal_hash() -> hashlib.blake2b:
    """A running digest of the journal's bytes from its first (a rewrite starts a new one)."""
    return hashlib.blake2b(digest_size=16)


def seal(document: bytes, journal: hashlib.blake2b | None) -> bytes:
    """``document`` (dump_json's bytes) with the seal as its last key; unsealed if the journal's digest is unknown."""
    if journal is None or not document.endswith(_CLOSE):
        return document
    body = document[: -len(_CLOSE)]
    return body + b',\n "seal": "' + _digest(body, journal.digest()).encode("ascii") + b'"\n}\n'


def sealed_body(raw: bytes) -> tuple[bytes, str] | None:
    """(the bytes the seal covers, the seal) of a file that ends with one, else None."""
    found = _SEALED.search(raw, max(0, len(raw) - 64))
    return None if found is None else (raw[: found.start()], found.group(1).decode("ascii"))


def intact(raw: bytes, journal_fd: int | None, offset: int) -> hashlib.blake2b | None:
    """The digest of the journal's first ``offset`` bytes if ``raw`` (cron.json's bytes) carries a seal
    matching it and them, else None (a load replaying the journal goes on from that digest)."""
    got = sealed_body(raw)
    if got is None:
        return None
    body, expected = got
    digest = journal_hash()
    if offset:
        if journal_fd is None:
            return None
        done = 0
        while done < offset:
            chunk = os.pread(journal_fd, min(CHUNK, offset - done), done)
            if not chunk:
                return None  # the journal is shorter than the file says
            digest.update(chunk)
            done += len(chunk)
    return digest if _digest(body, digest.digest()) == expected else None


def _digest(body: bytes, journal: bytes) -> str:
    h = hashlib.blake2b(body, digest_size=16, person=_PERSON)
    h.update(journal)
    return h.hexdigest()
