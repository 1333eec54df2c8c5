//! Output types: resolvers over the domain's values.

mod status;
mod user;
mod viewer;

pub use viewer::Viewer;
