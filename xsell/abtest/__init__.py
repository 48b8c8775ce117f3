"""A/B testing: sample size and power, the tests for rates, means and ratios, and simulated experiments
between policies with an under-power warning."""

from xsell.abtest.experiment import ABTestResult, compare_arms, run_ab_test
from xsell.abtest.power import (
    UnderpoweredWarning,
    power_two_means,
    power_two_proportions,
    sample_size_two_means,
    sample_size_two_proportions,
    warn_if_underpowered,
)
from xsell.abtest.significance import TestResult, bootstrap_ratio_test, two_proportion_ztest, welch_ttest

__all__ = [
    "ABTestResult", "TestResult", "UnderpoweredWarning", "bootstrap_ratio_test", "compare_arms",
    "power_two_means", "power_two_proportions", "run_ab_test", "sample_size_two_means",
    "sample_size_two_proportions", "two_proportion_ztest", "warn_if_underpowered", "welch_ttest",
]
