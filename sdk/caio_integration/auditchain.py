"""Hash chains over the audit stream: each router links its records, anyone can check them.

Every record a router writes carries ``chain = {id, seq, prev}``: its
router's chain (a random id chosen at start), its place in it, and the
SHA-256 of the stored bytes of the chain's previous record. ``verify``
reads records in any order, sorts each chain by ``seq`` and checks every
link, so:

- a record altered in place breaks the link of the record after it;
- a record removed leaves its ``seq`` missing;
- a record slipped into a chain duplicates a ``seq`` or breaks a link;
- a record with no chain, stored after chained ones, is reported (every
  router of this version chains what it writes).

A record the stream did not store (the write failed and the caller was
answered ``internal``) leaves its place to an ``audit_gap`` record, written
later with the same ``seq`` and ``prev`` and the lost record's hash in
``decision.lost``: ``verify`` reports gaps and accepts them as links.

What a chain cannot show (docs/security.md): a chain's last records removed
together (there is no later link to break), or a whole chain forged by
someone holding the router's NATS credentials. Keep each chain's head (``verify``
prints it) somewhere else to close the first; the stream's ``deny_delete``
and ``deny_purge`` make single deletes and purges impossible in the first place.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from caio_integration._json import dumps, loads
from caio_integration.wire import AuditRecord

__all__ = ["GENESIS", "ChainReport", "ChainWriter", "Problem", "record_hash", "verify_chains"]

GENESIS = "0" * 64  # the ``prev`` of a chain's first record


def record_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChainWriter:
    """One router's chain: ``link`` gives each record its place and its bytes.

    Links are made in the order records are written, on the event loop's
    one thread; records stored in another order are still verified, since
    ``verify_chains`` sorts by ``seq``.
    """

    __slots__ = ("head", "id", "seq")

    def __init__(self, chain_id: str | None = None) -> None:
        self.id = chain_id or os.urandom(8).hex()
        self.seq = 0
        self.head = GENESIS

    def link(self, record: AuditRecord | dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """The record's bytes with its place in the chain; the chain moves on past it.

        ``record`` is a model or the JSON object of one (what the route path
        builds, for speed); either is given its ``chain`` here.
        """
        self.seq += 1
        place = {"id": self.id, "seq": self.seq, "prev": self.head}
        if isinstance(record, dict):
            record["chain"] = place
            data = dumps(record)
        else:
            record.chain = place
            data = record.to_json()
        self.head = record_hash(data)
        return data, place

    @staticmethod
    def gap(
        place: dict[str, Any], lost: bytes, record: AuditRecord | dict[str, Any], reason: str
    ) -> bytes:
        """The ``audit_gap`` record holding ``place`` for ``lost``, a record not stored."""
        fields = record if isinstance(record, dict) else record.to_dict()
        gap = AuditRecord(
            kind="audit_gap",
            outcome="error",
            request_id=fields.get("request_id"),
            caller=fields.get("caller"),
            capability=fields.get("capability"),
            service_id=fields.get("service_id"),
            decision={"lost": record_hash(lost), "lost_kind": fields["kind"], "reason": reason},
        )
        gap.chain = place
        return gap.to_json()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing ``verify_chains`` found wrong, at a stream sequence when it has one."""

    chain_id: str | None
    seq: int | None
    stream_seq: int | None
    message: str


@dataclass(slots=True)
class ChainReport:
    records: int = 0
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (last seq, head)
    gaps: list[Problem] = field(default_factory=list)  # accepted, but worth knowing
    problems: list[Problem] = field(default_factory=list)  # tampering, or loss

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _Entry:
    stream_seq: int
    data: bytes
    record: dict[str, Any]
    chain: dict[str, Any]


def verify_chains(messages: Iterable[tuple[int, bytes]], *, from_start: bool = True) -> ChainReport:
    """Check every chain in ``messages`` (stream sequence, stored bytes).

    ``from_start``: the messages begin at the stream's first record, so each
    chain must start at ``seq`` 1 (False when reading from a time on).
    """
    report = ChainReport()
    chains: dict[str, list[_Entry]] = defaultdict(list)
    first_chained: int | None = None
    for stream_seq, data in messages:
        report.records += 1
        record = _decode(data)
        place = record.get("chain") if record is not None else None
        if record is None or not _is_place(place):
            report.problems.append(
                Problem(None, None, stream_seq, "not an audit record with a chain")
            )
            continue
        assert isinstance(place, dict)
        first_chained = stream_seq if first_chained is None else first_chained
        chains[place["id"]].append(_Entry(stream_seq, data, record, place))
    if first_chained is not None:  # unchained records before any chain are an older CAIO's
        report.problems = [
            p for p in report.problems if p.stream_seq is None or p.stream_seq > first_chained
        ]
    for chain_id, entries in chains.items():
        _verify_one(chain_id, entries, from_start, report)
    report.problems.sort(key=lambda p: (p.stream_seq or 0, p.seq or 0))
    return report


def _verify_one(
    chain_id: str, entries: list[_Entry], from_start: bool, report: ChainReport
) -> None:
    entries.sort(key=lambda e: (e.chain["seq"], e.record.get("kind") == "audit_gap"))
    expected_seq = 1 if from_start else entries[0].chain["seq"]
    link: set[str] | None = {GENESIS} if expected_seq == 1 else None  # hashes a next prev may be
    last = entries[0]
    index = 0
    while index < len(entries):
        entry = entries[index]
        seq = entry.chain["seq"]
        same = [e for e in entries[index:] if e.chain["seq"] == seq]
        index += len(same)
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
            report.problems.append(
                Problem(chain_id, expected_seq, entry.stream_seq, f"record(s) {missing} missing")
            )
            link = None  # the record after a hole cannot be checked against it
        kept = _one_per_place(chain_id, same, report)
        if link is not None and kept.chain["prev"] not in link:
            report.problems.append(
                Problem(
                    chain_id,
                    seq,
                    kept.stream_seq,
                    f"its prev does not match record {seq - 1} (stream seq "
                    f"{last.stream_seq}): that record was altered or replaced",
                )
            )
        link = {record_hash(kept.data)}
        if kept.record.get("kind") == "audit_gap":
            lost = (kept.record.get("decision") or {}).get("lost")
            if isinstance(lost, str):  # the next record links to the lost one's bytes
                link.add(lost)
            report.gaps.append(
                Problem(chain_id, seq, kept.stream_seq, "a record the stream did not store")
            )
        last, expected_seq = kept, seq + 1
    report.chains[chain_id] = (last.chain["seq"], record_hash(last.data))


def _one_per_place(chain_id: str, same: list[_Entry], report: ChainReport) -> _Entry:
    """The record at one ``seq``: the one there, or the original over its own gap record."""
    originals = [e for e in same if e.record.get("kind") != "audit_gap"]
    if len(originals) > 1 or (not originals and len(same) > 1):
        first = same[0]
        report.problems.append(
            Problem(chain_id, first.chain["seq"], same[1].stream_seq, "two records in one place")
        )
    if originals:
        original = originals[0]
        for gap in (e for e in same if e.record.get("kind") == "audit_gap"):
            lost = (gap.record.get("decision") or {}).get("lost")
            if lost != record_hash(original.data):
                report.problems.append(
                    Problem(
                        chain_id,
                        gap.chain["seq"],
                        gap.stream_seq,
                        "a gap record names another record than the one in its place",
                    )
                )
        return original
    return same[0]


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        record = loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _is_place(place: object) -> bool:
    return (
        isinstance(place, dict)
        and isinstance(place.get("id"), str)
        and isinstance(place.get("seq"), int)
        and place["seq"] >= 1
        and isinstance(place.get("prev"), str)
    )
