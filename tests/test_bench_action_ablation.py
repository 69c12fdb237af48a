"""benchmarks/bench_action_ablation.py's recipes: each lever differs from its reference row in that lever alone."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def abl(load_benchmark):
    return load_benchmark("bench_action_ablation")


def test_levers_change_only_their_own_keys_against_their_reference(abl):
    checked = set()
    for name, (_, overrides) in abl.LEVERS.items():
        ref_name = abl.REFERENCE.get(name)
        if ref_name not in ("native", "native_joints_image", "joints_all"):
            continue
        ref_overrides = abl.LEVERS[ref_name][1]
        ref, rec = abl.recipe(ref_overrides), abl.recipe(overrides)
        changed = {k for k in rec if rec[k] != ref[k]}
        own = {k for k in overrides if ref_overrides.get(k) != overrides[k]}  # the reference's own keys aside
        assert changed <= own, (name, changed)
        assert changed, f"{name} is the {ref_name} recipe itself"
        checked.add(ref_name)
    assert checked == {"native", "native_joints_image", "joints_all"}


def test_joint_image_levers_reach_the_encoding_and_combine_on_their_own(abl):
    from posenas.platform.encoding.spmf import EncodingConfig

    keys = ("encoding", "joint_scale", "joint_rows", "joint_motion")
    for name in abl.JOINT_COMBINABLE:
        assert abl.REFERENCE[name] == "native_joints_image"
        rec = abl.recipe(abl.LEVERS[name][1])
        EncodingConfig(**{k: rec[k] for k in keys})  # a valid config for the joint image
    both = abl.recipe(abl.combine(list(abl.JOINT_COMBINABLE)))
    assert (both["encoding"], both["joint_scale"], both["joint_rows"], both["joint_motion"]) == (
        "joints", "isotropic", "tree", True)
    assert not set(abl.JOINT_COMBINABLE) & set(abl.COMBINABLE)  # never mixed into the pair-image combination


def test_budget_and_network_levers(abl):
    base = abl.recipe({})
    assert base["epochs"] is None and base["densenet"] == {}  # None: the run's --epochs
    assert abl.recipe(abl.LEVERS["native_epochs60"][1])["epochs"] == 60
    wide = abl.recipe(abl.LEVERS["native_wide"][1])["densenet"]
    assert {**abl.DENSENET, **wide}["growth_rate"] == 2 * abl.DENSENET["growth_rate"]


def test_regulariser_levers_reach_the_trainer_and_the_net(abl):
    from posenas.platform.classification.densenet import DenseNetConfig
    from posenas.platform.classification.train import ClassifierTrainConfig

    assert abl.recipe({})["train"] == {}
    assert ClassifierTrainConfig(**abl.recipe(abl.LEVERS["native_mixup1"][1])["train"]).mixup == 1.0
    assert ClassifierTrainConfig(**abl.recipe(abl.LEVERS["native_wd"][1])["train"]).weight_decay == 0.05
    net = {**abl.DENSENET, **abl.recipe(abl.LEVERS["native_dropout"][1])["densenet"]}
    assert DenseNetConfig(num_classes=20, **net).drop_rate == 0.2


def test_fusion_streams_are_the_rows_they_stand_for(abl):
    """native_fusion's streams are exactly the combined_joints and native recipes, so each stream alone reproduces
    those rows' seeds, and the delta against combined_joints is what the fusion adds."""
    rec = abl.recipe(abl.LEVERS["native_fusion"][1])
    joints, pairs = ({**rec, **stream, "fuse": ()} for stream in rec["fuse"])
    assert joints == abl.recipe(abl.combine(list(abl.JOINT_COMBINABLE)))
    assert pairs == abl.recipe(abl.LEVERS["native"][1])
    assert abl.REFERENCE["native_fusion"] == "combined_joints"
    assert abl.recipe({})["fuse"] == ()  # every other row trains one stream


def test_fused_accuracy_averages_softmaxes_of_the_same_sequences(abl):
    import numpy as np

    labels = np.array([0, 1, 2])
    a = {"sequences": ["x", "y", "z"], "labels": labels,  # right on x, y; unsure and wrong on z
         "probabilities": np.array([[.9, .1, 0], [.2, .8, 0], [.4, .0, .35]])}
    b = {"sequences": ["x", "y", "z"], "labels": labels,  # wrong on x (barely), sure and right on z
         "probabilities": np.array([[.45, .55, 0], [0, 1, 0], [0, 0, 1]])}
    assert abl.fused_accuracy([a]) == pytest.approx(2 / 3) and abl.fused_accuracy([b]) == pytest.approx(2 / 3)
    assert abl.fused_accuracy([a, b]) == 1.0
    with pytest.raises(ValueError, match="same sequences"):
        abl.fused_accuracy([a, {**b, "sequences": ["y", "x", "z"]}])


def test_a_tie_on_validation_is_not_a_win_for_the_combined_row(abl):
    """UTKinect's tree-walk rows tied the plain joint image on val (0.75, 0.75, 0.7 against 0.7, 0.85, 0.65); the float
    means differ in the last bit, which once put the lever into the combined row."""
    def row(vals):
        return {"seeds": [{"val": v} for v in vals]}

    rows = {"native_joints_image": row([0.7, 0.85, 0.65]), "native_joints_tree": row([0.75, 0.75, 0.7]),
            "native_joints_iso": row([0.8, 0.9, 0.85]), "native_joints_motion": row([0.7, 0.7, 0.7])}
    assert [n for n in abl.JOINT_COMBINABLE if abl.beats(rows, n)] == ["native_joints_iso"]
    assert not abl.beats({"native_joints_tree": rows["native_joints_tree"]}, "native_joints_tree")  # no reference row


def test_joints_all_is_the_combined_joint_recipe_and_its_levers_combine_one_per_setting(abl):
    """joints_all is the joint image with all three options (combined_joints' recipe on MSR); of its levers the
    combined row takes every val winner, but only the best of two sizes or two rotation ranges."""
    assert abl.recipe(abl.LEVERS["joints_all"][1]) == abl.recipe(abl.combine(list(abl.JOINT_COMBINABLE)))
    assert all(abl.REFERENCE[n] == "joints_all" for n in abl.JOINTS_ALL_COMBINABLE)

    def row(vals):
        return {"seeds": [{"val": v} for v in vals]}

    rows = {"joints_all": row([0.8, 0.8, 0.8]), "joints_all_size48": row([0.9, 0.9, 0.9]),
            "joints_all_size64": row([0.85, 0.85, 0.85]), "joints_all_rotate0": row([0.82, 0.82, 0.82]),
            "joints_all_rotate45": row([0.82, 0.82, 0.82]), "joints_all_copies8": row([0.8, 0.8, 0.8]),
            "joints_all_speed_noise": row([0.81, 0.81, 0.81])}
    won = abl.winners(rows, list(abl.JOINTS_ALL_COMBINABLE))
    assert won == ["joints_all_size48", "joints_all_rotate0", "joints_all_speed_noise"]  # copies8 tied: out
    both = abl.recipe(abl.combine(won))
    assert (both["size"], both["aug"], both["joint_motion"]) == (48, {"rotate_deg": 0.0, "speed": (0.8, 1.25),
                                                                      "joint_noise": 0.01}, True)
