//! Stand-in for `wdk-build` 0.6.0 during the Windows-target check: the entry points
//! `driver/build.rs` names. On Linux the build script never calls them (no WDK).

use std::fmt;
use std::path::PathBuf;

/// Why the WDK configuration failed.
#[derive(Debug)]
pub struct ConfigError;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no Windows Driver Kit on this machine")
    }
}

impl std::error::Error for ConfigError {}

/// The WDK build configuration.
#[derive(Debug)]
pub struct Config;

impl Config {
    /// Reads the configuration from the environment and the crate metadata.
    pub fn from_env_auto() -> Result<Self, ConfigError> {
        Err(ConfigError)
    }

    /// The WDK include directories.
    pub fn include_paths(&self) -> Result<impl Iterator<Item = PathBuf>, ConfigError> {
        Err::<std::vec::IntoIter<PathBuf>, _>(ConfigError)
    }

    /// The preprocessor definitions of a kernel build.
    pub fn preprocessor_definitions(&self) -> impl Iterator<Item = (String, Option<String>)> {
        std::iter::empty()
    }

    /// Emits the linker settings of a driver binary.
    pub fn configure_binary_build(&self) -> Result<(), ConfigError> {
        Err(ConfigError)
    }
}

/// `Config::from_env_auto()?.configure_binary_build()`.
pub fn configure_wdk_binary_build() -> Result<(), ConfigError> {
    Config::from_env_auto()?.configure_binary_build()
}
