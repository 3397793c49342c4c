"""ament_python package definition for haze_ros (also installable with ``pip install -e .``)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "haze_ros"


def data_tree(root):
    """(install_dir, [files]) pairs installing ``root`` under share/haze_ros/, keeping its layout."""
    pairs = []
    for folder, _dirs, files in os.walk(root):
        if files:
            pairs.append((os.path.join("share", PACKAGE, folder),
                          [os.path.join(folder, f) for f in files]))
    return pairs


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.py") + glob("launch/*.xml")),
        *data_tree("config"),
        *data_tree("models"),
        *data_tree("data"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="haze_ros maintainers",
    maintainer_email="haze-ros@example.com",
    description="Dehazing and synthetic haze injection for ROS 2 camera streams.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "haze_node = haze_ros.ros.node:main",
            "haze_bag = haze_ros.bags.cli:main",
            "haze_replay = haze_ros.ros_tools.replay:main",
            "haze_record = haze_ros.ros_tools.record:main",
            "haze_demo = haze_ros.ros_tools.demo:main",
            "haze_bench = haze_ros.bench.cli:main",
            "haze_train = haze_ros.training.cli:main",
            "haze_eval = haze_ros.evaluation.cli:main",
            "haze_apply = haze_ros.evaluation.apply:main",
            "haze_export = haze_ros.export.cli:main",
        ],
    },
)
