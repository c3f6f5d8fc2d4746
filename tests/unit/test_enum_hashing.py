"""The domain's Enums are hashed by identity, in C: their members are looked up in dicts and sets dozens of times a
command, and Enum's own __hash__ is a Python method."""

from __future__ import annotations

import copy
import pickle
from enum import Enum

from workflow.spec import Scope
from workflow.store import TRANSCODED_ENUMS

ENUMS: tuple[type[Enum], ...] = (*TRANSCODED_ENUMS, Scope)


def test_every_domain_enum_is_hashed_by_identity() -> None:
    for enum_class in ENUMS:
        assert enum_class.__hash__ is object.__hash__, enum_class
        # The hash line is no member: each class keeps exactly its named members.
        assert all(isinstance(member.value, str) for member in enum_class), enum_class


def test_a_member_copied_pickled_or_looked_up_is_the_same_key() -> None:
    for enum_class in ENUMS:
        table = {member: member.value for member in enum_class}
        for member in enum_class:
            assert table[copy.deepcopy(member)] == member.value
            assert table[pickle.loads(pickle.dumps(member))] == member.value
            assert table[enum_class(member.value)] == member.value
