"""``tickdesk sim run`` on bad invocations: one-line errors, non-zero exits, clean --json."""

from __future__ import annotations

import json

import pytest


def test_missing_journal_file_is_a_one_line_error_naming_it(run_cli, tmp_path):
    missing = tmp_path / "no-such-journal.jsonl"
    code, out, err = run_cli("sim", "run", missing, "--json")
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "no-such-journal.jsonl" in lines[0]
    assert out == ""


def test_missing_journal_writes_no_events_file(run_cli, tmp_path):
    events = tmp_path / "events.jsonl"
    code, _, _ = run_cli("sim", "run", tmp_path / "absent.jsonl", "--out", events)
    assert code != 0
    assert not events.exists()


def test_json_stdout_is_exactly_one_json_object(run_cli, tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text(
        "\n".join(
            [
                '{"op":"deposit","account":"a","asset":"USDT","amount":"1000"}',
                '{"op":"new","id":"a1","account":"a","symbol":"BTC/USDT","side":"buy","type":"limit","price":"30000.01","qty":"0.001"}',
                '{"op":"bogus"}',
                "not json",
            ]
        )
        + "\n"
    )
    code, out, err = run_cli("sim", "run", journal, "--json")
    assert code == 0, err
    obj, end = json.JSONDecoder().raw_decode(out)
    assert out[end:].strip() == ""
    assert isinstance(obj, dict)
    for key in ("commands", "accepted", "rejected", "trades", "traded_qty", "best", "engine_seconds"):
        assert key in obj
    assert obj["commands"] == 4
    assert obj["accepted"] == 1
    assert obj["rejected"] == {"UNKNOWN_OP": 1, "MALFORMED_JSON": 1}
    assert obj["best"]["BTC/USDT"] == {"bid": "30000.01", "ask": None}


def test_json_with_out_keeps_stdout_to_the_one_object(run_cli, tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"op":"deposit","account":"a","asset":"USDT","amount":"1"}\n')
    code, out, err = run_cli("sim", "run", journal, "--json", "--out", tmp_path / "ev.jsonl")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1
    assert isinstance(json.loads(out), dict)


def test_unknown_option_is_an_error(run_cli, tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text("")
    code, out, err = run_cli("sim", "run", journal, "--no-such-option")
    assert code != 0
    assert "--no-such-option" in err


@pytest.mark.parametrize(
    "args, expected",
    [
        (("sim", "run", "--bogus", "x"), "No such option: --bogus"),
        (("sim", "run"), "Missing argument 'journal'"),
        (("sim", "market", "--seed", "abc"), "Invalid value for '--seed'"),
        (("nosuch",), "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line(run_cli, args, expected):
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tickdesk: error: "), err
    assert expected in lines[0]
