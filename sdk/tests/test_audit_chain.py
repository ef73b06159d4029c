"""The audit hash chain: what ``verify_chains`` accepts, and every tampering it names."""

from __future__ import annotations

import random

import orjson
from hypothesis import given
from hypothesis import strategies as st

from caio_integration.auditchain import ChainWriter, verify_chains
from caio_integration.wire import AuditRecord


def records(count: int, writer: ChainWriter | None = None) -> list[tuple[int, bytes]]:
    """``count`` chained records as the stream stores them: (stream seq, bytes)."""
    writer = writer or ChainWriter()
    stored = []
    for n in range(count):
        record = AuditRecord(kind="route", outcome="ok", request_id=f"r{n}", caller="alice")
        data, _ = writer.link(record)
        stored.append((n + 1, data))
    return stored


def altered(data: bytes, **changes: object) -> bytes:
    return orjson.dumps({**orjson.loads(data), **changes})


def test_an_untouched_chain_verifies() -> None:
    report = verify_chains(records(5))

    assert report.ok
    assert report.records == 5
    [(last_seq, head)] = report.chains.values()
    assert last_seq == 5
    assert len(head) == 64


def test_records_stored_out_of_order_still_verify() -> None:
    stored = records(20)
    random.Random(7).shuffle(stored)

    assert verify_chains(stored).ok


def test_two_routers_chains_interleaved_both_verify() -> None:
    one, two = records(4, ChainWriter("one")), records(4, ChainWriter("two"))
    interleaved = [m for pair in zip(one, two, strict=True) for m in pair]

    report = verify_chains(interleaved)

    assert report.ok
    assert set(report.chains) == {"one", "two"}


def test_an_altered_record_is_named_by_the_next_records_broken_link() -> None:
    stored = records(5)
    stream_seq, data = stored[2]
    stored[2] = (stream_seq, altered(data, caller="mallory"))

    report = verify_chains(stored)

    assert not report.ok
    [problem] = report.problems
    assert problem.seq == 4
    assert "does not match record 3 (stream seq 3)" in problem.message
    assert "altered or replaced" in problem.message


def test_a_removed_record_is_named_as_missing() -> None:
    stored = records(5)
    del stored[1]

    [problem] = verify_chains(stored).problems

    assert problem.seq == 2
    assert "record(s) 2 missing" in problem.message


def test_the_first_records_removed_are_missing_too() -> None:
    [problem] = verify_chains(records(5)[2:]).problems

    assert "record(s) 1-2 missing" in problem.message


def test_reading_from_a_time_on_starts_the_check_at_the_first_record_read() -> None:
    assert verify_chains(records(5)[2:], from_start=False).ok


def test_a_record_slipped_into_a_chain_is_named() -> None:
    stored = records(4)
    _, data = stored[1]
    stored.append((99, altered(data, caller="mallory")))  # claims place 2 as well

    report = verify_chains(stored)

    assert any("two records in one place" in p.message for p in report.problems)


def test_a_record_without_a_chain_after_chained_ones_is_named() -> None:
    stored = records(3)
    forged = AuditRecord(kind="route", outcome="ok", caller="mallory").to_json()
    stored.append((4, forged))

    [problem] = verify_chains(stored).problems

    assert problem.stream_seq == 4
    assert "not an audit record with a chain" in problem.message


def test_records_written_before_chaining_began_are_not_problems() -> None:
    older = AuditRecord(kind="route", outcome="ok").to_json()
    later = [(seq + 1, data) for seq, data in records(3)]

    assert verify_chains([(1, older), *later]).ok


def gap_for_second(writer: ChainWriter) -> tuple[list[tuple[int, bytes]], bytes]:
    """Three records whose second was not stored: its gap record holds its place."""
    first, _ = writer.link(AuditRecord(kind="route", outcome="ok", request_id="a"))
    lost_record = AuditRecord(kind="route", outcome="ok", request_id="b")
    lost, place = writer.link(lost_record)
    third, _ = writer.link(AuditRecord(kind="route", outcome="ok", request_id="c"))
    gap = ChainWriter.gap(place, lost, lost_record, "not stored (TimeoutError)")
    return [(1, first), (2, third), (3, gap)], lost


def test_a_gap_record_holds_the_place_of_a_record_not_stored() -> None:
    stored, _ = gap_for_second(ChainWriter())

    report = verify_chains(stored)

    assert report.ok
    [gap] = report.gaps
    assert gap.seq == 2


def test_a_record_stored_after_all_and_its_gap_record_verify_together() -> None:
    stored, lost = gap_for_second(ChainWriter())

    assert verify_chains([*stored, (4, lost)]).ok


@given(st.integers(min_value=3, max_value=30), st.data())
def test_any_single_record_altered_or_removed_but_the_last_is_found(
    count: int, data: st.DataObject
) -> None:
    stored = records(count)
    index = data.draw(st.integers(min_value=0, max_value=count - 2))
    if data.draw(st.booleans()):
        seq, body = stored[index]
        stored[index] = (seq, altered(body, outcome="error"))
    else:
        del stored[index]

    assert not verify_chains(stored).ok
