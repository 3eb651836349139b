"""Template rendering: native values, text, missing values, syntax errors and sandbox escapes."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.automations.templates import (
    MAX_RENDERED_CHARS,
    contains_template,
    render,
    template_errors,
)
from hookhub.errors import InvalidInputError, TemplateError

CONTEXT: dict[str, Any] = {
    "trigger": {
        "body": {
            "title": "Login not working",
            "priority": 2,
            "ratio": 0.5,
            "urgent": True,
            "tags": ["auth", "web"],
            "reporter": {"name": "john_doe", "id": "987"},
            "nothing": None,
        },
        "method": "POST",
    },
    "actions": {"first": {"result": {"ticket": {"number": 42}}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # One whole expression keeps its type.
        ("{{ trigger.body.priority }}", 2),
        ("{{trigger.body.priority}}", 2),
        ("{{- trigger.body.priority -}}", 2),
        ("{{ trigger.body.ratio }}", 0.5),
        ("{{ trigger.body.urgent }}", True),
        ("{{ trigger.body.nothing }}", None),
        ("{{ trigger.body.tags }}", ["auth", "web"]),
        ("{{ trigger.body.reporter }}", {"name": "john_doe", "id": "987"}),
        ("{{ trigger.body.title }}", "Login not working"),
        ("{{ actions.first.result.ticket.number + 1 }}", 43),
        ("{{ trigger.body.tags | length }}", 2),
        ("{{ trigger.body['title'] | upper }}", "LOGIN NOT WORKING"),
        ("{{ '}}' }}", "}}"),
        ("{{ 2 ** 10 }}", 1024),
        # Anything else renders to text.
        ("Ticket: {{ trigger.body.title }}", "Ticket: Login not working"),
        (" {{ trigger.body.priority }}", " 2"),
        ("{{ trigger.body.priority }}{{ trigger.body.priority }}", "22"),
        (
            "From @{{trigger.body.reporter.name}} (ID: {{trigger.body.reporter.id}})",
            "From @john_doe (ID: 987)",
        ),
        ("{% for t in trigger.body.tags %}{{ t }};{% endfor %}", "auth;web;"),
        # Missing values, handled explicitly.
        ("{{ trigger.body.missing | default('none') }}", "none"),
        ("{% if trigger.body.missing is defined %}yes{% else %}no{% endif %}", "no"),
        # Not templates: passed through untouched.
        ("plain text", "plain text"),
        ("{ not a template }", "{ not a template }"),
    ],
)
def test_renders(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == expected
    assert type(render(template, CONTEXT)) is type(expected)


def test_renders_recursively_through_dicts_and_lists_but_not_keys() -> None:
    params = {
        "title": "{{ trigger.body.title }}",
        "priority": "{{ trigger.body.priority }}",
        "nested": {"list": ["{{ trigger.method }}", 7, None, {"x": "{{ trigger.body.urgent }}"}]},
        "{{ key }}": "kept",
    }
    assert render(params, CONTEXT) == {
        "title": "Login not working",
        "priority": 2,
        "nested": {"list": ["POST", 7, None, {"x": True}]},
        "{{ key }}": "kept",
    }


def test_trigger_data_is_never_rendered_itself() -> None:
    context = {"trigger": {"body": {"title": "{{ ''.__class__ }}"}}, "actions": {}}
    assert render("{{ trigger.body.title }}", context) == "{{ ''.__class__ }}"
    assert render("x {{ trigger.body.title }}", context) == "x {{ ''.__class__ }}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ trigger.body.titel }}", "undefined value"),
        ("{{ trigger.body.missing.deeper }}", "undefined value"),
        ("Title: {{ trigger.body.titel }}", "undefined value"),
        ("{{ actions.later.result }}", "undefined value"),
        ("{{ trigger.body.title", "is not a valid template"),
        ("{% for x in %}{% endfor %}", "is not a valid template"),
        ("{% if x %}", "is not a valid template"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ trigger.body.items }}", "not a JSON value"),
        ("{{ self }}", "not a JSON value"),
        ("{{ range(3) }}", "not a JSON value"),
    ],
)
def test_errors_are_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as raised:
        render(template, CONTEXT)
    assert isinstance(raised.value, InvalidInputError)
    assert template[:10] in raised.value.message


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ trigger.__class__.__base__.__subclasses__() }}",
    "{{ trigger.body.tags.__class__ }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ trigger.body.tags.append('x') }}",
    "{{ trigger.body.reporter.update({'a': 1}) }}",
    "{{ trigger.body.reporter.pop('name') }}",
    "{{ self._TemplateReference__context }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "text {{ ''.__class__.__mro__ }}",
    "{{ 'a' * 1000000000 }}",
    "{{ [1] * 1000000000 }}",
    "{{ 10 ** 100000 }}",
    "{{ range(1000000000) | list }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_refuses_escapes(template: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render(template, CONTEXT)
    message = raised.value.message
    assert "refused by the sandbox" in message or "Range too big" in message, message
    # Nothing the sandbox guards shows in the message.
    assert "<class" not in message


def test_escape_attempts_leave_the_context_unchanged() -> None:
    context = {"trigger": {"body": {"tags": ["a"], "reporter": {"name": "x"}}}, "actions": {}}
    for template in ESCAPES:
        with pytest.raises(TemplateError):
            render(template, context)
    assert context == {
        "trigger": {"body": {"tags": ["a"], "reporter": {"name": "x"}}},
        "actions": {},
    }


def test_rendered_text_is_capped() -> None:
    template = "{% for i in range(100000) %}{{ trigger.body.title }}{% endfor %}"
    with pytest.raises(TemplateError, match=f"more than {MAX_RENDERED_CHARS}"):
        render(template, CONTEXT)


def test_template_errors_name_each_path_and_only_check_syntax() -> None:
    params = {
        "title": "{{ trigger.body.title",
        "list": ["ok", "{% endfor %}"],
        "undefined": "{{ trigger.body.not_known_until_run_time }}",
        "plain": "no template",
    }
    errors = template_errors(params, "actions.0.params")
    assert [error["path"] for error in errors] == [
        "actions.0.params.title",
        "actions.0.params.list.1",
    ]
    assert all("not a valid template" in error["message"] for error in errors)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{ x }}", True),
        ("{% if x %}{% endif %}", True),
        ("{# note #}", True),
        ({"a": [1, {"b": "{{ y }}"}]}, True),
        ({"a": [1, {"b": "y"}]}, False),
        (3, False),
    ],
)
def test_contains_template(value: Any, expected: bool) -> None:
    assert contains_template(value) is expected
