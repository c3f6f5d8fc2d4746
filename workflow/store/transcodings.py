"""Transcodings: the domain's value objects, so events come back from the store as the objects that went in."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from enum import Enum
from types import ModuleType
from typing import Any, cast

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from domain import values
from domain.actor import Actor
from domain.decisions import DecisionAct, DecisionEntry
from domain.person import Delegation, Grant
from domain.unit import UnitVersion
from domain.values import Answer, Evidence

#
# The name of a transcoding is written into every stored event that holds such a value: renaming a class needs
# its old name registered too (pass name= to register_enum / register_dataclass), or old events stop decoding.


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """Any Enum class, stored by its member's value.

    By value rather than by member name, so that a member may be renamed in code while the stored word stays.
    """

    def __init__(self, enum_class: type[Enum], name: str | None = None) -> None:
        self.type = enum_class
        self.name = name or enum_class.__name__
        self._enum_class = enum_class

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self._enum_class(data)


class DataclassAsDict(Transcoding):
    """A dataclass, stored as a dict of its fields.

    Field values are returned as they are, not converted: json.JSONEncoder runs `default` again on every value
    it cannot encode, so a Decimal, an Enum or another dataclass inside is encoded by its own transcoding; and
    the decoder's object_hook decodes inner objects before the outer one, so cls(**data) receives them decoded.
    JSON has no tuple: a tuple field comes back as a list (and an equality test then fails); dict keys come back
    as str. Give value objects list/dict fields of JSON-native keys, or convert in __post_init__.
    """

    def __init__(self, dataclass_type: type[Any], name: str | None = None) -> None:
        if not dataclasses.is_dataclass(dataclass_type):
            msg = f"{dataclass_type!r} is not a dataclass"
            raise TypeError(msg)
        if any(not field.init for field in dataclasses.fields(dataclass_type)):
            msg = f"{dataclass_type.__qualname__} has fields outside __init__: cls(**data) could not rebuild it"
            raise TypeError(msg)
        self.type = dataclass_type
        self.name = name or dataclass_type.__name__
        self._class = dataclass_type
        self.field_names = tuple(field.name for field in dataclasses.fields(dataclass_type))

    def encode(self, obj: Any) -> dict[str, Any]:
        # Not dataclasses.asdict: it would turn nested dataclasses into plain dicts, which decode as dicts.
        return {name: getattr(obj, name) for name in self.field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        return self._class(**data)


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSONTranscoder, writing the very same bytes, in a fraction of its time.

    json's C encoder took 60-110 µs for one 4 KB event of a decision (its answers, facts, evaluation and actor),
    the largest single cost of a command after the commit itself. Here the event's state is first turned into a
    tree of plain dicts, lists, strings, ints, booleans and None, each value object replaced by exactly the
    ``{"_type_": ..., "_data_": ...}`` dict the library's ``default`` would have produced, and orjson writes that
    tree; together in about half the time. Whatever the plain tree cannot say exactly as json would (a float,
    a subclass of str, int, dict or list, an int beyond 64 bits, a key that is not a string, a string that is not
    valid UTF-8, nesting deeper than orjson allows) goes, whole event, through the library's own path, and so
    does a type with no transcoding, which fails there as before. tests/unit/test_fast_transcoder.py checks byte
    for byte against JSONTranscoder, every string escape included.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encoders: dict[type, Callable[[Any], dict[str, Any]]] = {}
        self._plain: dict[type, Callable[[Any], Any]] = {dict: self._plain_dict, list: self._plain_list,
                                                          tuple: self._plain_list}
        # The library's path, for what the plain tree leaves out; as the library's encoder, without the check for
        # circular references: it records every dict and list on the way down (a sixth of an event's encoding), and
        # an event's state is a tree. A cycle, were one ever made, is still refused (RecursionError rather than
        # ValueError) and nothing is stored.
        self.encoder = json.JSONEncoder(
            default=self._encode_obj, separators=(",", ":"), ensure_ascii=False, check_circular=False
        )

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._encoders[transcoding.type] = _encoder_for(transcoding)
        plain = _plain_encoder_for(transcoding, self._plain_value)
        if plain is None:
            self._plain.pop(transcoding.type, None)
        else:
            self._plain[transcoding.type] = plain

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._plain_value(obj))
        except (_NotPlain, orjson.JSONEncodeError, RecursionError):
            return super().encode(obj)

    def _plain_value(self, o: Any) -> Any:
        cls = type(o)
        if cls is str or cls is bool or cls is int or o is None:
            return o
        plain = self._plain.get(cls)
        if plain is None:
            raise _NotPlain
        return plain(o)

    def _plain_dict(self, d: dict[Any, Any]) -> dict[Any, Any]:
        value = self._plain_value
        return {k: value(v) for k, v in d.items()}

    def _plain_list(self, items: list[Any] | tuple[Any, ...]) -> list[Any]:
        value = self._plain_value
        return [value(v) for v in items]

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        encoder = self._encoders.get(type(o))
        if encoder is None:
            return super()._encode_obj(o)
        return encoder(o)


class _NotPlain(Exception):
    """A value the plain tree cannot hold exactly as json would write it: the library's path writes the event."""


# json writes an instance of any of these (or of a subclass) itself, never through `default`: a transcoding for
# such a type is never used by the library's encoder, so the plain tree must not use it either.
_JSON_NATIVE = (str, int, float, list, tuple, dict)


def _plain_encoder_for(transcoding: Transcoding, plain_value: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """A function giving the `{"_type_", "_data_"}` dict of a value as plain data, or None to leave the type to the
    library's path."""
    cls = transcoding.type
    if issubclass(cls, _JSON_NATIVE) or cls is type(None):
        return None
    name = transcoding.name
    # By exact type: a subclass may encode otherwise, and keeps its own encode.
    if type(transcoding) is EnumAsValue:
        members = {member: {"_type_": name, "_data_": member.value} for member in cast(type[Enum], cls)}
        if any(type(member.value) not in (str, int, bool) for member in members):
            return None
        return members.__getitem__
    if type(transcoding) is DataclassAsDict:
        fields = ", ".join(f"{field!r}: value(o.{field})" for field in transcoding.field_names)
        namespace: dict[str, Any] = {"value": plain_value}
        exec(f"def encode(o):\n    return {{'_type_': {name!r}, '_data_': {{{fields}}}}}\n", namespace)
        return cast(Callable[[Any], Any], namespace["encode"])
    if type(transcoding) in (UUIDAsHex, DatetimeAsISO, DateAsISO, DecimalAsStr):
        # Each of these writes a str: its own fast function, as for json's path.
        return _encoder_for(transcoding)
    encode = transcoding.encode
    return lambda o: {"_type_": name, "_data_": plain_value(encode(o))}


def _encoder_for(transcoding: Transcoding) -> Callable[[Any], dict[str, Any]]:
    name = transcoding.name
    # By exact type: a subclass may encode otherwise, and keeps its own encode.
    if type(transcoding) is EnumAsValue:
        # One dict per member, handed out each time: json only reads it (and never nests it in itself).
        members = {member: {"_type_": name, "_data_": member.value} for member in cast(type[Enum], transcoding.type)}
        return members.__getitem__
    if type(transcoding) is DataclassAsDict:
        # As DataclassAsDict.encode, field by field in declaration order, without the loop (field names are
        # identifiers, so the code written is only attribute reads).
        fields = ", ".join(f"{field!r}: o.{field}" for field in transcoding.field_names)
        namespace: dict[str, Any] = {}
        exec(f"def encode(o):\n    return {{'_type_': {name!r}, '_data_': {{{fields}}}}}\n", namespace)
        return cast(Callable[[Any], dict[str, Any]], namespace["encode"])
    if type(transcoding) is UUIDAsHex:
        return lambda o: {"_type_": name, "_data_": o.hex}
    if type(transcoding) in (DatetimeAsISO, DateAsISO):
        return lambda o: {"_type_": name, "_data_": o.isoformat()}
    if type(transcoding) is DecimalAsStr:
        return lambda o: {"_type_": name, "_data_": str(o)}
    encode = transcoding.encode
    return lambda o: {"_type_": name, "_data_": encode(o)}


def _enums_of(module: ModuleType) -> tuple[type[Enum], ...]:
    return tuple(
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == module.__name__
    )


# Every Enum defined in domain/values.py, found rather than listed, so a new one cannot be forgotten.
TRANSCODED_ENUMS: tuple[type[Enum], ...] = _enums_of(values)
# Every value object an event or a snapshot carries. Snapshots also hold aggregate state (a unit's timeline, a
# person's grants and delegations, a decision book's entries): they are listed here too, so one list is the whole
# contract with the stored data, and the guard test round-trips every type in it.
TRANSCODED_DATACLASSES: tuple[type[Any], ...] = (
    Actor,
    Answer,
    Evidence,
    UnitVersion,
    Grant,
    Delegation,
    DecisionEntry,
    DecisionAct,
)


def _register(transcoder: JSONTranscoder, transcoding: Transcoding) -> None:
    taken = transcoder.names.get(transcoding.name)
    if taken is not None and taken.type is not transcoding.type:
        msg = (
            f"transcoding name {transcoding.name!r} is already used for {taken.type.__qualname__}; "
            f"register {transcoding.type.__qualname__} under another name"
        )
        raise ValueError(msg)
    transcoder.register(transcoding)


def register_enum(transcoder: JSONTranscoder, enum_class: type[Enum], *, name: str | None = None) -> None:
    _register(transcoder, EnumAsValue(enum_class, name))


def register_dataclass(transcoder: JSONTranscoder, dataclass_type: type[Any], *, name: str | None = None) -> None:
    _register(transcoder, DataclassAsDict(dataclass_type, name))


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Everything the domain's events carry: call from Application.register_transcodings."""
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        _register(transcoder, transcoding)
    for enum_class in TRANSCODED_ENUMS:
        register_enum(transcoder, enum_class)
    for dataclass_type in TRANSCODED_DATACLASSES:
        register_dataclass(transcoder, dataclass_type)
