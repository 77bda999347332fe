"""The mutation check still plants every mutant after a refactoring: each one's file exists, its text
matches exactly once, and the tests it runs exist (a moved module would otherwise only show when
someone runs the check, as "does not apply")."""

import pytest

from scripts.mutation_check import MUTANTS, ROOT


@pytest.mark.parametrize("number", range(1, len(MUTANTS) + 1))
def test_every_mutant_still_applies(number):
    mutant = MUTANTS[number - 1]
    path = ROOT / mutant.path
    assert path.is_file(), f"mutant {number}: {mutant.path} does not exist"
    assert path.read_text(encoding="utf-8").count(mutant.old) == 1, f"mutant {number} no longer applies"
    assert mutant.old != mutant.new
    for test in mutant.tests:
        assert (ROOT / test).is_file(), f"mutant {number}: {test} does not exist"
