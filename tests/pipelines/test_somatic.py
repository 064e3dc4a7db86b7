"""localgene.pipelines.somatic: the likelihood-based classification's rules."""

from __future__ import annotations

import pytest

from localgene.pipelines import somatic


def test_lods_follow_bcbio():
    # log10 likelihoods of 0/0, 0/1, 1/1: a tumor with alt reads, a clean normal.
    tumor, normal = [-20.0, -2.0, -15.0], [-0.5, -8.0, -30.0]
    assert somatic.lods(tumor, normal) == (18.0, 7.5)
    assert somatic.lods([], []) == (-1.0, 3.5)  # no likelihoods: no tumor evidence, normal passes


@pytest.mark.parametrize(
    "tumor_af, normal_af, ok", [(0.3, 0.0, True), (0.3, 0.1, True), (0.3, 0.12, False), (0.05, 0.001, True), (0.5, 0.5, False)]
)
def test_normal_frequency_rule(tumor_af, normal_af, ok):
    assert somatic.frequency_ok(tumor_af, normal_af) is ok


def test_binomial_orientation_p_value():
    assert somatic.binomial_two_sided(5, 10) == 1.0
    assert somatic.binomial_two_sided(0, 5) == pytest.approx(2 / 32)
    assert somatic.binomial_two_sided(12, 12) == pytest.approx(2 / 4096)
    assert somatic.binomial_two_sided(0, 0) == 1.0


def test_artifact_modes_include_the_reverse_complement():
    assert somatic._modes(["G/T"]) == {("G", "T"), ("C", "A")}
