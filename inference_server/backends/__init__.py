"""Pose backends: per-crop encoders plus per-track solvers (GLoT, BlazePose "lite")."""
