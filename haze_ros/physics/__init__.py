"""ROS-free physics of haze: the atmospheric scattering model, depth handling and classical dehazing.

Modules:

* ``scattering``: eq. (1) of the paper, I = J·t + A·(1 − t), t = exp(−β·d), and its inverse.
* ``depth``: metric depth from uint16 PNG / float / disparity; invalid and sky → far; fast
  morphological completion of sparse LiDAR depth (Ku et al. 2018).
* ``depth_free``: the flat-road approximation of depth for cameras without a depth source.
* ``dark_channel``: He et al.'s dark channel prior with guided-filter refinement.
* ``haze_params``: per-frame haze parameter sources (constant, the paper's randomisation, schedules).
"""

from haze_ros.physics.scattering import (  # noqa: F401
    recover_radiance, synthesize_haze, transmission_from_depth)
