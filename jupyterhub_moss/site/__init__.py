"""The admin's configuration model, pure: partitions, their environments, GPU
templates and the ``sbatch`` options left to users."""
