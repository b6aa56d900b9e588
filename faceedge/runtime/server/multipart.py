"""The image of a ``multipart/form-data`` upload, parsed in memory.

Starlette's own form parser spools a part larger than 1 MB to a temporary file; faceedge never writes
an upload to disk, so the body (already read, and capped at the upload limit) is parsed here instead.
A form has at most :data:`MAX_PARTS` parts (each of at most 8 headers of 4 KiB, python-multipart's
own limits): a body of a hundred thousand tiny parts is refused at its ninth, not parsed whole.
Error messages are short whatever the body holds.
"""

from __future__ import annotations

FIELD = "image"  # the form field that carries the image
MAX_BOUNDARY = 256  # characters: RFC 2046 allows 70; checked here, whatever the parser's version
MAX_PARTS = 8  # the image and a few other fields; the upload page sends the image alone
_SHOWN_NAMES, _NAME_CHARS, _MESSAGE_CHARS = 3, 40, 200  # how much of a bad form a message repeats


class FormError(ValueError):
    """A multipart body that is malformed or has no image field; the message says which."""


def form_image(body: bytes, content_type: str, field: str = FIELD) -> bytes:
    """The bytes of the part named ``field`` in a ``multipart/form-data`` ``body``.

    Raises:
        FormError: no boundary or one that is too long, a malformed body, more than
            :data:`MAX_PARTS` parts, or no part named ``field``.
    """
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise FormError("the multipart/form-data content type has no boundary")
    if len(boundary) > MAX_BOUNDARY:
        raise FormError(
            f"the multipart boundary has {len(boundary)} characters; at most {MAX_BOUNDARY} are taken"
        )
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    name, value = bytearray(), bytearray()

    def begin() -> None:
        if len(parts) == MAX_PARTS:  # raised through the parser: the rest is never parsed
            raise FormError(
                f"the form has more than {MAX_PARTS} parts; send the image as the field {field!r}"
            )
        parts.append(({}, bytearray()))

    def end_header() -> None:
        parts[-1][0][bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    callbacks = {
        "on_part_begin": begin,
        "on_part_data": lambda data, start, stop: parts[-1][1].extend(data[start:stop]),
        "on_header_field": lambda data, start, stop: name.extend(data[start:stop]),
        "on_header_value": lambda data, start, stop: value.extend(data[start:stop]),
        "on_header_end": end_header,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise FormError(
            f"malformed multipart/form-data body: {_shortened(str(exc), _MESSAGE_CHARS)}"
        ) from None
    names = []
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        part_name = disposition.get(b"name", b"").decode("latin-1")
        if part_name == field:
            return bytes(data)
        names.append(part_name)
    found = ", ".join(repr(_shortened(n, _NAME_CHARS)) for n in names[:_SHOWN_NAMES]) or "no field"
    if len(names) > _SHOWN_NAMES:
        found += f" and {len(names) - _SHOWN_NAMES} more"
    raise FormError(f"the form has no {field!r} field ({found}); send the image as the field {field!r}")


def _shortened(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 3] + "..."
