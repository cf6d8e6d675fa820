"""Pascal VOC archives in the real format, built by the tests: the three official tarballs' names and inner
tree (VOCdevkit/VOC20xx/{Annotations,ImageSets/Main,JPEGImages}), small JPEGs and VOC XML annotations."""

from __future__ import annotations

import io
import tarfile

import numpy as np
from PIL import Image

from augrepro.data.voc import PARTS, VOC_CLASSES


def annotation_xml(image_id: str, year: str, width: int, height: int, objects: list[dict]) -> bytes:
    """A VOC annotation as the devkit writes it (1-based inclusive integer boxes)."""
    parts = [
        "<annotation>",
        f"\t<folder>{year}</folder>",
        f"\t<filename>{image_id}.jpg</filename>",
        "\t<source><database>The VOC Database</database></source>",
        f"\t<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
        "\t<segmented>0</segmented>",
    ]
    for obj in objects:
        x1, y1, x2, y2 = obj["box"]
        difficult = "" if obj.get("difficult") is None else f"<difficult>{int(obj['difficult'])}</difficult>"
        parts.append(
            f"\t<object><name>{obj['name']}</name><pose>Unspecified</pose><truncated>0</truncated>{difficult}"
            f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return ("\n".join(parts) + "\n").encode()


def jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def scene(rng: np.random.Generator, width: int, height: int, n_objects: int, classes=VOC_CLASSES):
    """An image with ``n_objects`` flat coloured rectangles on noise, and their VOC objects (class i gets
    colour i, so that a detector can learn something in a few steps)."""
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    objects = []
    for k in range(n_objects):
        cls = int(rng.integers(0, len(classes)))
        w, h = int(rng.integers(width // 4, width // 2)), int(rng.integers(height // 4, height // 2))
        x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        colour = np.asarray([(37 * cls) % 256, (91 * cls + 80) % 256, 255 - (53 * cls) % 200], dtype=np.uint8)
        image[y0 : y0 + h, x0 : x0 + w] = colour
        objects.append({"name": classes[cls], "box": (x0 + 1, y0 + 1, x0 + w, y0 + h), "difficult": int(k == 1)})
    return image, objects


def voc_tar(
    year: str,
    listing: str,
    images: dict[str, tuple[np.ndarray, list[dict]]],
    xml_override: dict[str, bytes] | None = None,
) -> bytes:
    """One devkit tarball: ``images`` maps an image id to (pixels, objects)."""
    base = f"VOCdevkit/{year}"
    members: dict[str, bytes] = {}
    for image_id, (pixels, objects) in images.items():
        height, width = pixels.shape[:2]
        members[f"{base}/JPEGImages/{image_id}.jpg"] = jpeg(pixels)
        members[f"{base}/Annotations/{image_id}.xml"] = annotation_xml(image_id, year, width, height, objects)
    for image_id, payload in (xml_override or {}).items():
        members[f"{base}/Annotations/{image_id}.xml"] = payload
    members[f"{base}/ImageSets/Main/{listing}.txt"] = "".join(f"{i}\n" for i in images).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:  # the official VOC archives are plain (uncompressed) tars
        for folder in (
            "VOCdevkit",
            base,
            f"{base}/JPEGImages",
            f"{base}/Annotations",
            f"{base}/ImageSets",
            f"{base}/ImageSets/Main",
        ):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def voc_archives(
    seed: int = 0,
    per_part: tuple[int, int, int] = (3, 2, 3),
    size: tuple[int, int] = (80, 64),
    xml_override: dict[str, dict[str, bytes]] | None = None,
):
    """The three archives (name -> bytes) and what they hold: {archive: {image_id: (pixels, objects)}}."""
    rng = np.random.default_rng(seed)
    archives, content = {}, {}
    for (archive, year, listing, _split), count in zip(PARTS, per_part):
        if year == "VOC2012":
            ids = [f"2008_{i:06d}" for i in range(count)]
        else:
            ids = [f"{(1 if listing == 'trainval' else 5000) + i:06d}" for i in range(count)]
        images = {i: scene(rng, size[0], size[1], 1 + int(rng.integers(0, 3))) for i in ids}
        archives[archive] = voc_tar(year, listing, images, (xml_override or {}).get(archive))
        content[archive] = images
    return archives, content
