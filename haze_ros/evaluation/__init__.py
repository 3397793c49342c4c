"""Evaluation: metrics, the paper's Table 1 protocol, reports, and batch application of a model.

ROS-free. Modules:

* ``metrics``: PSNR and SSIM (Wang et al. 2004, Gaussian 11×11 window, σ = 1.5), PSNR on a pixel mask.
* ``fog_density``: a no-reference fog density for real hazy images (dark-channel haze opacity,
  contrast, saturation; explicitly NOT FADE, see its docstring).
* ``pairing``: pair files across folders by the last run of digits in their names.
* ``depth_io``: depth files (PNG / TIFF / npz / npy) to metres, sparse LiDAR completed (and the
  measured pixels kept).
* ``methods``: the table rows (the hazy input itself, DCP, the flat-road approximation, learned
  models), built by the backend factory and run through ``core.processor.FrameProcessor``.
* ``protocol``: synthetic (Table 1; conditioned and unconditioned synthesis), paired and
  no-reference evaluation loops.
* ``report``: JSON, markdown table and a markdown report with side-by-side pictures.
* ``cli`` (``haze_eval``) and ``apply`` (``haze_apply``): the command-line tools.
"""
