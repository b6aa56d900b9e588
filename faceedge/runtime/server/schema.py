"""What the API takes and answers, as the OpenAPI schema shows it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from faceedge.ages import AGE_GROUPS, MAX_AGE
from faceedge.runtime.server.batcher import Analysis
from faceedge.runtime.server.multipart import FIELD

# The content types a raw body may have: an image's own or a generic byte stream.
RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "application/octet-stream")

_BINARY = {"schema": {"type": "string", "format": "binary"}}
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": f"The image (JPEG, PNG, WebP, BMP or TIFF): the body itself, or the {FIELD!r} "
        "field of a form.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "string", "format": "binary"}},
                }
            },
            **{media_type: _BINARY for media_type in RAW_TYPES},
        },
    }
}


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


ERROR_RESPONSES = {
    400: {"model": Problem, "description": "Not an image, a truncated image, an empty body or a bad form"},
    401: {"model": Problem, "description": "The API key is missing or wrong"},
    408: {"model": Problem, "description": "The body arrived too slowly; the connection is closed"},
    413: {"model": Problem, "description": "The body or the image's pixel count is over the limit"},
    415: {"model": Problem, "description": "A content type that cannot carry an image"},
    500: {"model": Problem, "description": "The server failed on this request (not the client's doing)"},
    503: {
        "model": Problem,
        "description": "Too many requests or pixels are waiting; retry after a second",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}


_AGE_GROUP_NAMES = [name for name, _, _ in AGE_GROUPS]


class FaceResult(BaseModel):
    box: list[float] = Field(min_length=4, max_length=4, description="x, y, width, height in pixels")
    score: float = Field(description="The detector's confidence")
    landmarks: dict[str, list[float]] = Field(description="The detector's keypoints by name, as x, y")
    gender: str = Field(description="The classifier's label: female or male")
    p_female: float = Field(ge=0.0, le=1.0, description="The classifier's probability of female")
    # No bounds: a model's estimate may stray a little outside 0-MAX_AGE, and a response that failed
    # its own schema would be a 500 for a face that was found and classified.
    age: float | None = Field(
        description=f"The estimated age in years (one decimal; about 0 to {MAX_AGE}, the range the "
        "model was trained on). Null when the model gives no age (a gender-only model: see "
        "`outputs` in /healthz)",
        json_schema_extra={"x-unit": "years"},
    )
    age_group: str | None = Field(
        description="The age group the estimated age falls in, rounded to whole years: one of "
        + ", ".join(_AGE_GROUP_NAMES)
        + ". Null when the model gives no age",
        json_schema_extra={"enum": [*_AGE_GROUP_NAMES, None]},
    )


class Timings(BaseModel):
    decode_ms: float
    queued_ms: float = Field(description="Waiting for the pipeline")
    detect_ms: float = Field(description="Detection, for the whole batch this image was part of")
    crop_ms: float
    classify_ms: float = Field(description="One classifier call for the faces of the whole batch")
    total_ms: float = Field(description="From the body received to the answer")


class AnalyzeResult(BaseModel):
    width: int
    height: int
    faces: list[FaceResult]
    too_small: int = Field(description="Faces found but too small to classify")
    batch_images: int = Field(description="Images whose faces shared this classifier call")
    timings: Timings
    model: str = Field(description="The gender model's id")


class Health(BaseModel):
    status: str
    model: str
    outputs: list[str] = Field(
        description="What the model gives for each face, from its manifest: p_female (the probability "
        "of female) and, for a model that estimates age, age (years)"
    )
    backends: dict[str, str]
    api_key_required: bool
    max_upload_bytes: int
    max_pixels: int
    images_waiting: int


def to_result(
    shape: tuple[int, ...], analysis: Analysis, timings: dict[str, float], model: str
) -> AnalyzeResult:
    result = analysis.result
    stages = {f"{stage}_ms": result.timings_ms.get(stage, 0.0) for stage in ("detect", "crop", "classify")}
    faces = [
        FaceResult(
            box=[round(v, 1) for v in face.box],
            score=round(face.score, 4),
            landmarks={
                name: [round(x, 1), round(y, 1)] for name, (x, y) in zip(face.landmark_names, face.landmarks)
            },
            gender=face.gender,
            p_female=round(face.p_female, 4),
            age=None if face.age is None else round(face.age, 1),
            age_group=face.age_group,
        )
        for face in result.faces
    ]
    all_timings = {**timings, "queued_ms": analysis.queued_ms, **stages}
    return AnalyzeResult(
        width=shape[1],
        height=shape[0],
        faces=faces,
        too_small=result.too_small,
        batch_images=analysis.batch_images,
        timings=Timings(**{k: round(v, 2) for k, v in all_timings.items()}),
        model=model,
    )
