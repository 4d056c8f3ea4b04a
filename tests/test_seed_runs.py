"""Verdicts over seeds: computed from the stored runs, which hold what they say."""

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gdl_pyro import scripting, seed_runs
from gdl_pyro.compare import seed_verdict
from gdl_pyro.models import kde


def fake_runs(differences: list[float]) -> dict:
    """Stored runs of one section with two contenders: "a" (paired ``differences`` to the
    peer, gap = peer's gap - difference) and "b" (always 0.05 nats behind the peer)."""
    runs = []
    for seed, diff in enumerate(differences):
        peer_gap = 0.2 + 0.01 * seed
        runs.append(
            {
                "seed": seed,
                "fits": {
                    "a": {"name": "model a", "gap_nats": peer_gap - diff, "fit_seconds": 10.0},
                    "b": {"name": "model b", "gap_nats": peer_gap + 0.05, "fit_seconds": 2.0},
                    "kde": {"name": "the KDE", "gap_nats": peer_gap, "fit_seconds": 1.0},
                    "sklearn": {"name": "sk", "gap_nats": peer_gap + 0.01, "fit_seconds": 3.0},
                },
                "versus_peer": {
                    "a": {"diff_nats": diff, "se_nats": 0.004},
                    "b": {"diff_nats": -0.05, "se_nats": 0.003},
                },
            }
        )
    return {
        "meta": {"date": "2026-12-01"},
        "sections": {"s06": runs},
        "settings": {"s06": seed_runs.settings("s06")},
    }


def test_the_verdict_is_seed_verdict_of_the_stored_differences():
    stored = fake_runs([0.02, 0.03, 0.01, 0.04, 0.02])
    result = seed_runs.verdict("s06", stored)
    assert result["contender"] == "a"  # the smaller mean gap
    runs = stored["sections"]["s06"]
    assert result["versus_peer"]["a"] == seed_verdict([run["versus_peer"]["a"] for run in runs])
    assert result["versus_peer"]["a"]["mean_diff_nats"] == pytest.approx(0.024)
    assert result["beats_peer_every_seed"]
    assert result["mean_gap"]["kde"] == pytest.approx(0.22)
    assert "beats the KDE on all 5 seeds" in seed_runs.sentence(result)


def test_a_winner_that_changes_with_the_seed_is_said_to():
    result = seed_runs.verdict("s06", fake_runs([0.02, -0.03, 0.01, 0.04, -0.02]))
    assert not result["beats_peer_every_seed"]
    assert result["versus_peer"]["a"]["winner_changes"]
    assert "3 of 5 seeds: the winner changes with the seed" in seed_runs.sentence(result)


def test_a_contender_that_always_loses_is_said_to():
    result = seed_runs.verdict("s06", fake_runs([-0.02, -0.03, -0.01, -0.04, -0.02]))
    assert "loses to the KDE on all 5 seeds" in seed_runs.sentence(result)


def test_unknown_section_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="section must be one of"):
        seed_runs.verdict("s99", fake_runs([0.1, 0.2]))
    with pytest.raises(FileNotFoundError, match="make seeds"):
        seed_runs.load(tmp_path / "none.json")


def test_the_stored_runs_hold_five_seeds_of_each_section_and_their_differences_add_up():
    stored = seed_runs.load()
    for section, settings in seed_runs.SECTIONS.items():
        runs = stored["sections"][section]
        assert [run["seed"] for run in runs] == list(seed_runs.SEEDS)
        for run in runs:
            assert set(run["fits"]) == {*settings["fits"], "sklearn"}
            assert set(run["versus_peer"]) == set(settings["fits"]) - {seed_runs.PEER}
            # A paired difference of held-out means is the difference of the two gaps.
            peer = run["fits"][seed_runs.PEER]["gap_nats"]
            for label, claim in run["versus_peer"].items():
                assert claim["diff_nats"] == pytest.approx(
                    peer - run["fits"][label]["gap_nats"], abs=1e-6
                )
                assert 0 < claim["se_nats"] < 0.05


def test_main_refuses_one_seed(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        seed_runs.main(["--seeds", "0", "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 2
    assert "--seeds" in capsys.readouterr().err


def test_the_stored_file_is_json_with_its_meta():
    meta = json.loads(seed_runs.RUNS_FILE.read_text())["meta"]
    assert {"date", "machine", "torch", "pyro", "timing"} <= set(meta)


# The section's own names for its sizes.
SIZE_NAMES = {"s06": ("num_data", "num_heldout"), "s09": ("num_train", "num_heldout")}
CHAPTER = Path(__file__).parents[1] / "chapters" / "ch01_generative_modeling"


def fit_calls(source: str, module: str) -> list[ast.Call]:
    """The section's calls ``module.fit(x, ...)``."""
    return [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "fit"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == module
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "x"
    ]


@pytest.mark.parametrize("section", sorted(seed_runs.SECTIONS))
def test_the_stored_settings_are_the_sections_defaults(section):
    # The runs are the section's own fits at its defaults: its sizes, and each contender's
    # keywords in its fit cell, evaluated with the parameters cell's defaults as args.
    path = next(CHAPTER.glob(f"{section}_*.py"))
    source = path.read_text()
    defaults = {name: p.default for name, p in scripting.parameters_cell(source).items()}
    spec = seed_runs.SECTIONS[section]
    assert [defaults[name] for name in SIZE_NAMES[section]] == [
        spec["num_data"],
        spec["num_heldout"],
    ]
    namespace = {"args": SimpleNamespace(**defaults), "kde": kde, "np": np}
    for label, (fit, keywords) in spec["fits"].items():
        calls = fit_calls(source, fit.__module__.rsplit(".", 1)[1])
        assert len(calls) == 1, (label, len(calls))
        given = {
            kw.arg: eval(compile(ast.Expression(kw.value), path.name, "eval"), namespace)  # noqa: S307
            for kw in calls[0].keywords
            if kw.arg not in (None, "model")  # **common; model= is the same program written out
        }
        assert {k: np.asarray(v).tolist() for k, v in given.items()} == keywords, label


def test_runs_made_with_other_settings_are_refused():
    stored = fake_runs([0.02, 0.03])
    stored["settings"]["s06"] = {**stored["settings"]["s06"], "num_data": 2000}
    with pytest.raises(ValueError, match="other settings.*make seeds"):
        seed_runs.verdict("s06", stored)
