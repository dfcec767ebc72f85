"""The built-in domains name the rules they share alike, so a failure reason means one thing across
domains (`policy.authenticated_before_write`, not `authenticate_...` in one and `authenticated_...` in
the other), and the Phase 2 audit's rule uses the same word."""

from apigen_pipeline.environments.base import AUTHENTICATED_BEFORE_WRITE, SHARED_POLICY_RULES
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase2.audit import AUTH_RULE

BUILT_IN = ("airline", "retail")


def rule_names(domain: str) -> set[str]:
    return {check.rule for check in load_environment(domain).plugin.policy_checks}


def test_the_rules_both_domains_have_carry_one_name():
    airline, retail = (rule_names(domain) for domain in BUILT_IN)
    assert airline & retail == set(SHARED_POLICY_RULES)


def test_rule_names_are_snake_case_and_unique_per_domain():
    for domain in BUILT_IN:
        names = [check.rule for check in load_environment(domain).plugin.policy_checks]
        assert len(names) == len(set(names))
        assert all(name.replace("_", "").isalnum() and name == name.lower() for name in names)


def test_the_audit_rule_is_the_domains_word():
    assert AUTH_RULE.split(".")[-1] == AUTHENTICATED_BEFORE_WRITE
