"""The image of a ``multipart/form-data`` upload, parsed in memory.

Starlette's own form parser spools a part larger than 1 MB to a temporary file; faceedge never writes
an upload to disk, so the body (already read, and capped at the upload limit) is parsed here instead.
"""

from __future__ import annotations

FIELD = "image"  # the form field that carries the image


class FormError(ValueError):
    """A multipart body that is malformed or has no image field; the message says which."""


def form_image(body: bytes, content_type: str, field: str = FIELD) -> bytes:
    """The bytes of the part named ``field`` in a ``multipart/form-data`` ``body``.

    Raises:
        FormError: no boundary, a malformed body, or no part named ``field``.
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise FormError("the multipart/form-data content type has no boundary")
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    name, value = bytearray(), bytearray()

    def begin() -> None:
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
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise FormError(f"malformed multipart/form-data body: {exc}") from None
    names = []
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        part_name = disposition.get(b"name", b"").decode("latin-1")
        if part_name == field:
            return bytes(data)
        names.append(part_name)
    found = ", ".join(repr(n) for n in names) or "no field"
    raise FormError(f"the form has no {field!r} field ({found}); send the image as the field {field!r}")
