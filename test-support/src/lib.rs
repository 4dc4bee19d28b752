//! Test helpers shared by the workspace's integration tests.
