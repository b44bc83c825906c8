"""Relay plumbing: global ids, offset cursors, page arguments and generic connections."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
)
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

MAX_PAGE_SIZE = 100
_CURSOR_PREFIX = "arrayconnection:"

NodeT = TypeVar("NodeT")


def to_global_id(type_name: str, pk: int) -> str:
    """`base64("<Type>:<pk>")`, as Relay (and graphene) spell node ids."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


# `<Type>:<pk>` and nothing else: ASCII letters, a colon, ASCII digits (no blanks, signs,
# underscores or other scripts' digits, all of which `int()` would accept), within int4.
_GLOBAL_ID = re.compile(r"(?P<kind>[A-Za-z]+):(?P<pk>[0-9]{1,10})", re.ASCII)
_MAX_PK = 2**31 - 1


def from_global_id(value: str, type_name: str, argument: str) -> int:
    """The pk inside a global id of `type_name`; anything else is a GraphQL error, never a 500."""
    match = None
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        match = _GLOBAL_ID.fullmatch(base64.b64decode(value, validate=True).decode("ascii"))
    if match is None or int(match["pk"]) > _MAX_PK:
        raise GraphQLError(
            f"{argument}: {value[:64]!r} is not a valid {type_name} id",
            extensions={"code": "INVALID_ID"},
        )
    if match["kind"] != type_name:
        raise GraphQLError(
            f"{argument}: expected a {type_name} id, got a {match['kind']} id",
            extensions={"code": "INVALID_ID"},
        )
    return int(match["pk"])


def optional_global_id(value: str | None, type_name: str, argument: str) -> int | None:
    """Like `from_global_id`, but null and blanks mean "no filter"."""
    if value is None or not value.strip():
        return None
    return from_global_id(value, type_name, argument)


def offset_to_cursor(offset: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode()


_CURSOR = re.compile(re.escape(_CURSOR_PREFIX) + r"([0-9]{1,10})", re.ASCII)


def cursor_to_offset(cursor: str, argument: str) -> int:
    """The offset in a cursor this API handed out; the same strictness as global ids."""
    match = None
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        match = _CURSOR.fullmatch(base64.b64decode(cursor, validate=True).decode("ascii"))
    if match is None:
        raise GraphQLError(
            f"{argument}: {cursor[:64]!r} is not a valid cursor", extensions={"code": "INVALID_CURSOR"}
        )
    return int(match[1])


@dataclass(frozen=True)
class PageArgs:
    """Validated `first/last/before/after/offset`, hashable so DataLoaders can batch on it."""

    first: int | None = None
    last: int | None = None
    before: int | None = None
    after: int | None = None
    offset: int = 0

    @classmethod
    def parse(
        cls,
        first: int | None,
        last: int | None,
        before: str | None,
        after: str | None,
        offset: int | None,
    ) -> PageArgs:
        for name, size in (("first", first), ("last", last)):
            if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
                raise GraphQLError(
                    f"{name}: must be between 0 and {MAX_PAGE_SIZE}, got {size}",
                    extensions={"code": "PAGE_SIZE"},
                )
        if offset is not None and offset < 0:
            raise GraphQLError("offset: must not be negative", extensions={"code": "PAGE_SIZE"})
        # No size given: the cap doubles as the default page, so no answer is unbounded.
        if first is None and last is None:
            first = MAX_PAGE_SIZE
        return cls(
            first=first,
            last=last,
            before=cursor_to_offset(before, "before") if before else None,
            after=cursor_to_offset(after, "after") if after else None,
            offset=offset or 0,
        )

    @property
    def lower(self) -> int:
        """Index of the first row the page may start at, before `last` trims it."""
        return (self.after + 1 if self.after is not None else 0) + self.offset

    def window(self, count: int) -> tuple[int, int]:
        """The `[start, end)` slice of a list of `count` rows that this page covers."""
        start = min(self.lower, count)
        end = count if self.before is None else min(self.before, count)
        end = max(end, start)
        if self.first is not None:
            end = min(end, start + self.first)
        if self.last is not None:
            start = max(start, end - self.last)
        return start, end


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


@strawberry.type
class Connection(Generic[NodeT]):
    """A page of nodes; `count` is the total after filtering, not the page length."""

    count: int = strawberry.field(
        description="How many match the filters in all, not the page length. Exact, and counted only "
        "when selected: counting reads every match (a filter matching 500,000 customers reads "
        "500,000 index entries), so leave it out unless it is shown; `pageInfo.hasNextPage` "
        "does not need it."
    )
    edges: list[Edge[NodeT]]
    page_info: PageInfo


def selects(info: Info[Any, Any], name: str) -> bool:
    """Whether the query asks the current field for `name` (directly or through fragments)."""
    raw = info._raw_info
    return any(_nodes_named(node.selection_set, name, raw.fragments) for node in raw.field_nodes)


def _nodes_named(
    selection_set: SelectionSetNode | None, name: str, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """`fields_named` on the document itself: the fields called `name` in `selection_set`,
    fragments included (not inside other fields).

    `info.selected_fields` converts the whole selection below a field, every argument and
    directive of it, into strawberry's objects, once per resolver that asks: a few percent of a
    request's CPU, to learn whether one name is there.
    """
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            if selection.name.value == name:
                found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_nodes_named(selection.selection_set, name, fragments))
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            found.extend(_nodes_named(fragments[selection.name.value].selection_set, name, fragments))
    return found


def fields_named(selections: Sequence[Selection], name: str) -> list[SelectedField]:
    """The fields called `name` among `selections`, fragments included (not inside other fields)."""
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                found.append(selection)
        else:
            found.extend(fields_named(selection.selections, name))
    return found


def selects_node_field(info: Info[Any, Any], name: str) -> bool:
    """Whether the current connection field's `edges { node { ... } }` asks for `name`."""
    raw = info._raw_info
    return any(
        _nodes_named(node.selection_set, name, raw.fragments)
        for field in raw.field_nodes
        for edge in _nodes_named(field.selection_set, "edges", raw.fragments)
        for node in _nodes_named(edge.selection_set, "node", raw.fragments)
    )


def head_window(page: PageArgs, with_count: bool) -> tuple[int, int] | None:
    """The `[start, end)` of a page that can be read from its start without counting, else None.

    That is a `first` page (`after`/`offset`/`before` allowed) whose `count` is not selected;
    read `end - start + 1` rows at `start` and give them to `page_of_head`.
    """
    if with_count or page.last is not None or page.first is None:
        return None
    start = page.lower
    end = start + page.first if page.before is None else min(page.before, start + page.first)
    return (start, end) if end > start else None


def page_of_head(
    found: Sequence[sa.Row[Any]], start: int, end: int
) -> tuple[list[sa.Row[Any]], int, int] | None:
    """`(rows, count, start)` from the rows read for `head_window`, or None when only a count can tell.

    The count is the smallest total consistent with the page (one more row than the page, if
    there was one): never shown, only used for the page info. No row at start 0 means no match
    at all (a count of 0); no row past the start needs the count to place the page.
    """
    if found:
        more = len(found) > end - start
        return list(found[: end - start]), start + min(len(found), end - start) + more, start
    if start == 0:
        return [], 0, 0
    return None


_PAGE_OFFSET = sa.bindparam("page_offset", type_=sa.Integer())
_PAGE_LIMIT = sa.bindparam("page_limit", type_=sa.Integer())


@dataclass(frozen=True)
class PageStatements:
    """An ordered query with its offset and limit bound at execution, and the count of its matches.

    Built once where the query's shape repeats (`orders.list_orders`), so a request binds values
    instead of building and keying statements; `of` builds one for a single use.
    """

    rows: sa.Select[Any]  # with LIMIT :page_limit OFFSET :page_offset
    count: sa.Select[Any]

    @classmethod
    def of(cls, rows: sa.Select[Any], count: sa.Select[Any]) -> PageStatements:
        return cls(rows.offset(_PAGE_OFFSET).limit(_PAGE_LIMIT), count)


def select_page(
    conn: sa.Connection,
    rows: sa.Select[Any],
    count: sa.Select[Any],
    page: PageArgs,
    *,
    with_count: bool = True,
) -> tuple[list[sa.Row[Any]], int, int]:
    """`(rows, count, start)` of one page of the ordered query `rows`; `count` counts all matches.

    Counting visits every match (a filter matching half a million customers reads half a
    million index entries), so without `with_count` (the query did not select `count`) a page
    that can be found from its start is read with one row more, which is all `hasNextPage`
    needs (see `head_window`, `page_of_head`). `last`, or a page past the end, still counts.
    """
    return select_bound_page(conn, PageStatements.of(rows, count), {}, page, with_count=with_count)


def select_bound_page(
    conn: sa.Connection,
    statements: PageStatements,
    params: dict[str, Any],
    page: PageArgs,
    *,
    with_count: bool = True,
) -> tuple[list[sa.Row[Any]], int, int]:
    """`select_page` on statements built beforehand, their other parameters' values in `params`."""
    window = head_window(page, with_count)
    if window is not None:
        start, end = window
        found = page_of_head(
            conn.execute(
                statements.rows, {**params, "page_offset": start, "page_limit": end - start + 1}
            ).all(),
            start,
            end,
        )
        if found is not None:
            return found
    total = int(conn.execute(statements.count, params).scalar_one())
    start, end = page.window(total)
    if end <= start:
        return [], total, start
    rows = conn.execute(statements.rows, {**params, "page_offset": start, "page_limit": end - start}).all()
    return list(rows), total, start


def build_connection(nodes: Sequence[NodeT], count: int, start: int) -> Connection[NodeT]:
    """A connection for `nodes`, the rows `[start, start + len(nodes))` of `count`."""
    edges = [Edge(node=node, cursor=offset_to_cursor(start + i)) for i, node in enumerate(nodes)]
    return Connection(
        count=count,
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + len(nodes) < count,
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
