"""The run pages' captions that depend on the run (scratchae/cli/captions.py): each states what
its figure shows, computed from the run's numbers, hand-worked here."""
import numpy as np

from scratchae.cli.captions import compare_final, loss_trend, saturated_share, unit_health_caption


def monitor_record(dead, saturated):
    """A Monitor's to_dict() with one ReLU layer and one sigmoid layer."""
    return {"every": 25, "steps": list(range(len(dead))), "epochs": list(range(len(dead))),
            "layers": ["dense", "dense_1"], "kinds": {"dense": "relu", "dense_1": "sigmoid"},
            "values": {"dead_fraction": {"dense": dead, "dense_1": [None] * len(dead)},
                       "saturated_fraction": {"dense": [None] * len(dead), "dense_1": saturated}}}


def test_saturated_share_counts_values_beyond_0_01_and_0_99():
    assert saturated_share([0.0, 0.005, 0.5, 0.995, 1.0, 0.3, 0.01, 0.99]) == 4 / 8


def test_saturation_the_data_asks_for_is_called_the_datas():
    # MNIST-like targets: 60% black pixels; the outputs saturate at 62%: the data's
    targets = np.r_[np.zeros(60), np.full(40, 0.5)]
    text = unit_health_caption(monitor_record([0.0, 0.0], [0.1, 0.62]), targets)
    assert "dense_1 62% (first record 10%)" in text
    assert "60% of the test targets' pixels are themselves below 0.01 or above 0.99" in text
    assert "the saturation is the data's, not stuck units" in text
    assert "No unit is dead." in text


def test_saturation_beyond_the_data_is_called_out():
    targets = np.r_[np.zeros(20), np.full(80, 0.5)]              # 20% at 0
    text = unit_health_caption(monitor_record([0.0, 0.25], [0.3, 0.9]), targets)
    assert "more than the targets ask for" in text
    assert "dense 25% (first record 0%)" in text
    assert "No unit is dead." not in text


def test_loss_trend_says_what_the_last_epoch_did():
    assert loss_trend([0.3, 0.2, 0.19]) == ("The last epoch still lowered the loss by 5.0% (from "
                                           "0.2 to 0.19): more epochs would likely lower it further.")
    assert "raised the loss by 10.0% (from 0.2 to 0.22)" in loss_trend([0.2, 0.22])
    assert "levelled off" in loss_trend([0.2, 0.20001])
    assert loss_trend([0.25]) == "One epoch: the loss ended at 0.25; one point shows no trend."


def test_compare_final_counts_the_epochs_where_one_curve_is_above():
    curves = {"denoising": [0.30, 0.20, 0.10, 0.09], "vanilla": [0.25, 0.21, 0.12, 0.095]}
    assert compare_final(curves, "denoising", "vanilla") == (
        "The denoising curve is above the vanilla curve in 1 of the 4 epochs both ran; at epoch 4 "
        "it is 0.09 against 0.095 (lower).")
    # only the epochs both curves have are compared
    assert "in 0 of the 2 epochs both ran" in compare_final({"a": [1, 1, 9], "b": [2, 2]}, "a", "b")
