"""Training of the shared-latent MMD-VAE/GAN: config, losses, data, trainer, checkpoints, CLI."""
