//! An image's page: one annotation per region, anchored by its box and its outline.

use super::model::{
    to_value, Annotation, AnnotationType, BoxSelector, Context, Describing, FragmentSelectorType,
    Generator, ImageAnnotation, ImagePage, ImageSource, ImageTarget, ImageTypes, MediaFragments,
    RegionBody, SpecificResourceType, SvgSelector, SvgSelectorType, Tagging, TextPlain,
    TextualBody, Xywh,
};
use super::terms::{doc_iri, region_id, region_label, round, ContextMode, SourceInfo};
use crate::vision::contours::BorderKind;
use crate::vision::pipeline::{ImageAnalysis, ImageParams};
use crate::vision::regions::Region;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Builds the page for one image.
pub fn image_page(
    source: &SourceInfo,
    analysis: &ImageAnalysis,
    params: &ImageParams,
    mode: ContextMode,
) -> ImagePage {
    let base = doc_iri(&source.sha256);
    let about = ImageSource {
        id: format!("{base}:source"),
        kind: ImageTypes,
        content_url: source.content_url.clone(),
        encoding_format: source.mime.clone(),
        content_size: source.byte_len,
        width: analysis.width,
        height: analysis.height,
        sha256: source.sha256.clone(),
    };
    let items = analysis
        .regions
        .iter()
        .enumerate()
        .map(|(rank, r)| region_annotation(&base, rank, r, analysis, &about))
        .collect();
    let mut parameters = params.to_json();
    if let Value::Object(m) = &mut parameters {
        m.insert(
            "decided".into(),
            json!({
                "threshold": analysis.threshold,
                "inverted": analysis.inverted,
                "contours": analysis.contour_count,
            }),
        );
    }
    ImagePage::new(
        Context::new(mode),
        Some(base),
        about,
        Some(Generator::new(parameters)),
        items,
    )
}

/// [`image_page`] as a JSON value.
pub fn image_document(
    source: &SourceInfo,
    analysis: &ImageAnalysis,
    params: &ImageParams,
    mode: ContextMode,
) -> Value {
    to_value(&image_page(source, analysis, params, mode))
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn svg_polygon(region: &Region, width: u32, height: u32) -> String {
    let mut pts = String::new();
    for (i, p) in region.measures.polygon.iter().enumerate() {
        if i > 0 {
            pts.push(' ');
        }
        let _ = write!(pts, "{},{}", p.x, p.y);
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\"><polygon points=\"{pts}\"/></svg>"
    )
}

fn region_annotation(
    base: &str,
    rank: usize,
    r: &Region,
    analysis: &ImageAnalysis,
    about: &ImageSource,
) -> ImageAnnotation {
    let id = region_id(rank);
    let m = &r.measures;
    // Rounded so outputs stay readable and stable: scores to 4 decimals, pixel measures to 2.
    let body = RegionBody {
        kind: TextualBody,
        purpose: Tagging,
        format: TextPlain,
        value: region_label(r),
        region_id: id.clone(),
        rank: rank + 1,
        border_kind: match r.kind {
            BorderKind::Outer => "outer",
            BorderKind::Hole => "hole",
        }
        .to_owned(),
        shape: r.shape.as_str().to_owned(),
        size_class: r.size.as_str().to_owned(),
        position: r.position.as_str().to_owned(),
        color_name: r.color_name.to_owned(),
        mean_color: hex(r.mean_color),
        dominant_color: hex(r.dominant_color),
        salience: round(r.salience, 4),
        area: round(m.area, 2),
        pixel_count: r.pixel_count,
        perimeter: round(m.perimeter, 2),
        centroid_x: round(m.centroid.0, 2),
        centroid_y: round(m.centroid.1, 2),
        vertex_count: m.polygon.len(),
        hull_area: round(m.hull_area, 2),
        solidity: round(m.solidity, 4),
        circularity: round(m.circularity, 4),
        rotated_center_x: round(m.rotated.cx, 2),
        rotated_center_y: round(m.rotated.cy, 2),
        rotated_width: round(m.rotated.width, 2),
        rotated_height: round(m.rotated.height, 2),
        rotated_angle: round(m.rotated.angle, 2),
        hole_count: r.holes,
        parent_region: r.parent.map(|p| format!("{base}:{}", region_id(p))),
    };
    let b = r.bbox;
    let selector = (
        BoxSelector {
            kind: FragmentSelectorType,
            conforms_to: MediaFragments,
            value: Xywh {
                x: b.x,
                y: b.y,
                w: b.w,
                h: b.h,
            },
        },
        SvgSelector {
            kind: SvgSelectorType,
            value: svg_polygon(r, analysis.width, analysis.height),
        },
    );
    Annotation {
        id: format!("{base}:{id}"),
        kind: AnnotationType,
        motivation: Describing,
        body,
        target: ImageTarget {
            kind: SpecificResourceType,
            source: about.clone(),
            selector,
        },
    }
}
