//! The implementations of the pixel stages: [`rust`], always compiled, and `opencv`,
//! compiled with the cargo feature of that name. Both hand their borders to the same
//! region, measure and document code, so their outputs agree (the `opencv` module names
//! the stages where OpenCV's own results differ). Callers go through
//! [`crate::vision::pipeline`], which picks one by [`crate::vision::params::Backend`].

#[cfg(feature = "opencv")]
pub mod opencv;
pub mod rust;

/// What to tell someone who asks for OpenCV from a build without it.
pub const OPENCV_UNAVAILABLE: &str = "this mmprompt was built without OpenCV; rebuild with \
     `cargo build --release --features opencv` (needs the apt packages libopencv-dev clang \
     libclang-dev)";

/// Why a backend could not analyse an image that decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend is not compiled into this build.
    #[error("{}", OPENCV_UNAVAILABLE)]
    Unavailable,
    /// OpenCV reported an error.
    #[error("OpenCV: {0}")]
    Opencv(String),
}
