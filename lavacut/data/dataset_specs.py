"""The event-camera data sets lavacut reads through tonic: what it knows
about each (:class:`DatasetSpec`, the :data:`DATASETS` table); opening them
is :mod:`lavacut.data.tonic_sets`'."""

from __future__ import annotations

from dataclasses import dataclass

from lavacut.data.formats.nmnist_bin import NMNIST_SENSOR


@dataclass(frozen=True)
class DatasetSpec:
    """What lavacut knows about one registered data set.

    ``sensor_size`` is tonic's ``(width, height, polarities)``; ``has_split``
    says whether the data set has an official train/test split (if not,
    :func:`load_tonic_dataset` makes a seeded stratified one);
    ``expected_layout`` describes, for people, the files tonic expects under
    ``<root>/<tonic_class_name>/``.
    """

    name: str
    tonic_class_name: str
    sensor_size: tuple[int, int, int]
    n_classes: int
    has_split: bool
    expected_layout: str
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "nmnist": DatasetSpec(
        name="nmnist",
        tonic_class_name="NMNIST",
        sensor_size=NMNIST_SENSOR,
        n_classes=10,
        has_split=True,
        expected_layout=(
            "<root>/NMNIST/Train/<digit 0-9>/<sample>.bin  (60,000 training recordings)\n"
            "<root>/NMNIST/Test/<digit 0-9>/<sample>.bin   (10,000 test recordings)\n"
            "The label is the last character of the folder name. Each .bin holds\n"
            "5-byte event records. tonic's download (train.zip, test.zip) unpacks\n"
            "to exactly this."
        ),
        description="N-MNIST: MNIST digits recorded by an ATIS camera making three "
        "saccades, about 300 ms per sample, 34x34 pixels, 10 classes.",
    ),
    "dvsgesture": DatasetSpec(
        name="dvsgesture",
        tonic_class_name="DVSGesture",
        sensor_size=(128, 128, 2),
        n_classes=11,
        has_split=True,
        expected_layout=(
            "<root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy\n"
            "<root>/DVSGesture/ibmGestureTest/user<NN>_<lighting>/<label>.npy\n"
            "This is tonic's preprocessed version (ibmGestureTrain.tar.gz,\n"
            "ibmGestureTest.tar.gz): one .npy per gesture, rows (x, y, p, t in ms),\n"
            "file name = label 0..10. The original aedat release is not read."
        ),
        description="IBM DVS128 Gesture: 11 hand and arm gestures by 29 people under "
        "several lightings, 128x128 DVS, a few seconds per sample.",
    ),
    "cifar10dvs": DatasetSpec(
        name="cifar10dvs",
        tonic_class_name="CIFAR10DVS",
        sensor_size=(128, 128, 2),
        n_classes=10,
        has_split=False,
        expected_layout=(
            "<root>/CIFAR10DVS/<class>/<sample>.aedat4\n"
            "with <class> one of airplane, automobile, bird, cat, deer, dog, frog,\n"
            "horse, ship, truck (1,000 recordings each). tonic's download\n"
            "(CIFAR10DVS.zip) holds one zip per class that it unpacks to this.\n"
            "Reading .aedat4 needs the 'aedat' Python package."
        ),
        description="CIFAR10-DVS: CIFAR-10 images moved on a monitor in front of a "
        "128x128 DVS, 10 classes, no official train/test split.",
    ),
    "ncaltech101": DatasetSpec(
        name="ncaltech101",
        tonic_class_name="NCALTECH101",
        # tonic says None (recordings differ in extent; it shifts each to start at
        # x=0, y=0); 240x180 bounds them all, the size other loaders use.
        sensor_size=(240, 180, 2),
        n_classes=101,
        has_split=False,
        expected_layout=(
            "<root>/NCALTECH101/Caltech101/<category>/image_<NNNN>.bin\n"
            "(8,709 recordings in 101 category folders; labels are the folder\n"
            "names, numbered in sorted order). Same 5-byte records as N-MNIST.\n"
            "tonic's download (N-Caltech101-archive.zip) unpacks to this."
        ),
        description="N-Caltech101: Caltech101 images recorded by an ATIS camera making "
        "saccades, 101 categories, no official train/test split.",
    ),
}
