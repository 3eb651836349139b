"""Action parameters as templates, rendered in a sandboxed Jinja2 environment (pure).

The context is ``{"trigger": ..., "actions": {step name: {"result": ...}}}``. Parameters are
rendered recursively: dict values and list items (never dict keys); strings without template
markup are returned as they are.

- A string that is exactly one ``{{ ... }}`` expression keeps the expression's type:
  ``"{{ trigger.body.priority }}"`` gives the number ``2``, ``"{{ trigger.body }}"`` the dict.
  Anything else (text around it, several expressions, ``{% ... %}`` blocks) renders to text.
- **Missing values are errors** (``StrictUndefined``): ``{{ trigger.body.titel }}`` fails the step
  rather than creating a ticket with an empty title. Write ``{{ trigger.body.x | default('') }}``
  or ``{% if trigger.body.x is defined %}`` where a value may be absent.
- The environment is :class:`ImmutableSandboxedEnvironment`: no underscore attributes, no
  mutating methods, no ``str.format`` escapes; on top of it, ``*`` and ``**`` are bounded so one
  template cannot allocate gigabytes, and rendered text is capped.
- Every failure (syntax, undefined, sandbox, a value that is not JSON, an error while evaluating)
  is one :class:`~hookhub.errors.TemplateError` with a message that says which.

Trigger data is only ever a value in the context, never itself rendered as a template, so a
sender cannot inject template code through a webhook body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hookhub.errors import TemplateError

#: What makes a string a template; any other string is passed through untouched.
TEMPLATE_MARKERS = ("{{", "{%", "{#")
#: Longest text a template may render to (and longest string or list ``*`` may build).
MAX_RENDERED_CHARS = 1_000_000
#: ``a ** b`` is refused when the result would need more bits than this.
MAX_POWER_BITS = 64_000
#: Templates kept compiled; automations reuse the same few strings on every run.
COMPILED_CACHE_SIZE = 1024
#: Characters of an error's own text kept in a message.
MAX_DETAIL_CHARS = 200

Context_ = Mapping[str, Any]
JSON_SCALARS = (str, int, float, bool, type(None))


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*`` and ``**`` bounded (the stock sandbox leaves
    ``'a' * 10**9`` and ``10 ** 10 ** 10`` alone, and either stalls the process)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence: Any, times: Any) -> None:
    repeated = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if repeated and len(sequence) * times > MAX_RENDERED_CHARS:
        raise SecurityError("the result of '*' would be too large")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, bool) or isinstance(exponent, bool):
        return
    integers = isinstance(base, int) and isinstance(exponent, int)
    if (
        integers
        and abs(base) > 1
        and exponent > 0
        and base.bit_length() * exponent > MAX_POWER_BITS
    ):
        raise SecurityError("the result of '**' would be too large")


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)

Renderer = Callable[[Context_], Any]


def is_template(value: str) -> bool:
    return any(marker in value for marker in TEMPLATE_MARKERS)


def render(value: Any, context: Context_) -> Any:
    """``value`` with every template string in it rendered over ``context``.

    Raises :class:`TemplateError`; the message names the template and what went wrong.
    """
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def render_string(source: str, context: Context_) -> Any:
    """One string: as it is, the native value of its one expression, or rendered text."""
    if not is_template(source):
        return source
    renderer = compile_template(source)
    try:
        return renderer(context)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(
            f"{_quote(source)} was refused by the sandbox: {_detail(exc)}"
        ) from None
    except UndefinedError as exc:
        raise TemplateError(f"{_quote(source)} uses an undefined value: {_detail(exc)}") from None
    except RecursionError:
        raise TemplateError(f"{_quote(source)} nests too deeply") from None
    except Exception as exc:
        # Arithmetic and type errors from the expression itself: the template is at fault.
        raise TemplateError(
            f"{_quote(source)} failed: {type(exc).__name__}: {_detail(exc)}"
        ) from None


def compile_template(source: str) -> Renderer:
    """A callable rendering ``source``; raises :class:`TemplateError` on a syntax error."""
    try:
        return _compile(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{_quote(source)} is not a valid template: {exc.message} (line {exc.lineno})"
        ) from None


@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compile(source: str) -> Renderer:
    tree = _ENV.parse(source)
    expression = _single_expression(source, tree)
    if expression is not None:
        compiled = _ENV.compile_expression(expression, undefined_to_none=False)

        def native(context: Context_) -> Any:
            return _json_value(compiled(**context), source)

        return native
    template = _ENV.from_string(tree)

    def text(context: Context_) -> Any:
        rendered = template.render(**context)
        if len(rendered) > MAX_RENDERED_CHARS:
            raise TemplateError(f"{_quote(source)} renders to more than {MAX_RENDERED_CHARS} chars")
        return rendered

    return text


def _single_expression(source: str, tree: nodes.Template) -> str | None:
    """The expression's source when ``source`` is exactly one ``{{ ... }}``, else None."""
    stripped = source.strip()
    if stripped != source or not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    output = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(output, nodes.Output):
        return None
    if len(output.nodes) != 1 or isinstance(output.nodes[0], nodes.TemplateData):
        return None
    inner = stripped[2:-2]
    # Whitespace control ({{- x -}}) means nothing around a lone expression.
    if inner[:1] in ("-", "+"):
        inner = inner[1:]
    if inner[-1:] in ("-", "+"):
        inner = inner[:-1]
    return inner


def _json_value(value: Any, source: str) -> Any:
    """The value as JSON data, or :class:`TemplateError` when it is not representable."""
    if isinstance(value, Undefined):
        # Raises the undefined's own error: UndefinedError, or SecurityError for an unsafe
        # attribute the sandbox replaced with an undefined.
        value._fail_with_undefined_error()
    if isinstance(value, str):
        if len(value) > MAX_RENDERED_CHARS:
            raise TemplateError(f"{_quote(source)} renders to more than {MAX_RENDERED_CHARS} chars")
        return str(value)  # a Markup or other str subclass becomes a plain str
    if isinstance(value, JSON_SCALARS):
        return value
    if isinstance(value, Mapping):
        return {_json_key(key, source): _json_value(item, source) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item, source) for item in value]
    raise TemplateError(
        f"{_quote(source)} gives a {type(value).__name__}, which is not a JSON value"
    )


def _json_key(key: Any, source: str) -> str:
    if not isinstance(key, str):
        raise TemplateError(f"{_quote(source)} gives a mapping with a non-text key")
    return key


def template_errors(value: Any, path: str) -> list[dict[str, str]]:
    """``[{path, message}]`` for every template string in ``value`` that does not compile.

    What can be checked before a trigger exists: syntax only (undefined values depend on the
    trigger, so they are found when the step runs).
    """
    errors: list[dict[str, str]] = []
    if isinstance(value, str):
        if is_template(value):
            try:
                compile_template(value)
            except TemplateError as exc:
                errors.append({"path": path, "message": exc.message})
    elif isinstance(value, Mapping):
        for key, item in value.items():
            errors.extend(template_errors(item, f"{path}.{key}"))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            errors.extend(template_errors(item, f"{path}.{index}"))
    return errors


def contains_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(contains_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(contains_template(item) for item in value)
    return False


def _quote(source: str) -> str:
    shown = source if len(source) <= MAX_DETAIL_CHARS else source[:MAX_DETAIL_CHARS] + "…"
    return f"template {shown!r}"


def _detail(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"
