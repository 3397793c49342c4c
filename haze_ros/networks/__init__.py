"""Networks of the shared-latent MMD-VAE/GAN (nn.Modules only, no ROS).

See ``vae``, ``discriminator``, ``translator`` (the deterministic one-direction unit) and
``loading`` (checkpoint pairs).
"""
