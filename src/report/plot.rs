//! Publication charts. Each function takes plain numbers (no tensors) and a
//! path, draws with the bundled font, and returns a `Result`. A legend sits
//! in its own panel beside the plot so it never covers data, and a caption
//! line (study, budget, seeds, revision) runs along the bottom.

use std::path::Path;
use std::sync::Once;

use plotters::chart::{ChartContext, MeshStyle};
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
pub use plotters::style::RGBColor;

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font once, so nothing depends on system fonts.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("the bundled font assets/fonts/DejaVuSans.ttf is not a valid font");
        }
    });
}

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {message}")]
pub struct PlotError {
    /// The file being drawn.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// The figures' size factor where none is given: 1600×1120 pixels a chart.
pub const DEFAULT_SCALE: f64 = 2.0;

/// Image format of the charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// PNG raster images.
    Png,
    /// SVG vector images.
    Svg,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// Size and format shared by every chart of a report.
#[derive(Clone, Debug)]
pub struct Canvas {
    /// Image format of every chart.
    pub format: Format,
    /// 1 gives 800×560 pixels per chart; 2 doubles every length and font.
    pub scale: f64,
    /// Small text along the bottom: study, budget, seeds, revision.
    pub caption: String,
}

impl Canvas {
    fn px(&self, base: f64) -> u32 {
        (base * self.scale).round() as u32
    }

    fn font(&self, base: f64) -> (&'static str, f64) {
        (FONT, base * self.scale)
    }

    /// Draws `chart` on a fresh image at `path`, in the canvas's format.
    fn render(&self, path: &Path, chart: &impl Chart) -> Result<(), PlotError> {
        register_font();
        let (width, height) = chart.size();
        let size = (self.px(width), self.px(height));
        let result = match self.format {
            Format::Png => {
                let root = BitMapBackend::new(path, size).into_drawing_area();
                chart
                    .draw(self, &root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
            Format::Svg => {
                let root = SVGBackend::new(path, size).into_drawing_area();
                chart
                    .draw(self, &root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
        };
        result.map_err(|message| PlotError {
            path: path.display().to_string(),
            message,
        })
    }
}

/// A chart body, drawn the same way on any plotters backend (PNG or SVG).
trait Chart {
    /// Unscaled size in pixels.
    fn size(&self) -> (f64, f64);
    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String>;
}

// ---------------------------------------------------------------------------
// Colours

/// Okabe–Ito colours, safe for colour-blind readers.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];

/// The `index`-th colour of the palette (wrapping around).
pub fn palette_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The `index`-th of `count` ordered values (depths) on the viridis scale,
/// dark to light; its yellow end is left out, too faint on white.
pub fn sequential_color(index: usize, count: usize) -> RGBColor {
    let t = index as f64 / count.saturating_sub(1).max(1) as f64;
    ViridisRGB::get_color(0.85 * t)
}

/// The colour of an activation, the same in every figure of every report.
pub fn activation_color(name: &str) -> RGBColor {
    const KNOWN: [&str; 8] = [
        "relu",
        "abs",
        "tanh",
        "leaky_relu",
        "elu",
        "sigmoid",
        "gelu",
        "softplus",
    ];
    match KNOWN.iter().position(|k| *k == name) {
        Some(index) => PALETTE[index],
        None => PALETTE[name.bytes().map(usize::from).sum::<usize>() % PALETTE.len()],
    }
}

/// The colour of a plotted series: its activation's colour, shaded by
/// layer type for `activation/layer` series (dense as is, residual
/// lighter, any other darker).
pub fn series_color(series: &str) -> RGBColor {
    match series.split_once('/') {
        None | Some((_, "dense")) => activation_color(series.split('/').next().unwrap_or(series)),
        Some((activation, "residual")) => lighter(activation_color(activation), 0.45),
        Some((activation, _)) => darker(activation_color(activation), 0.45),
    }
}

/// A darker shade of a colour (towards black by `amount` in [0, 1]).
pub fn darker(color: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (c as f64 * (1.0 - amount)).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// A lighter shade of a colour (towards white by `amount` in [0, 1]).
pub fn lighter(color: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (c as f64 + (255.0 - c as f64) * amount).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Blue for negative, white for zero, red for positive; `t` in [-1, 1].
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let (end, amount) = if t < 0.0 {
        ((33.0, 102.0, 172.0), -t)
    } else {
        ((178.0, 24.0, 43.0), t)
    };
    let mix = |e: f64| (255.0 + (e - 255.0) * amount).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

// ---------------------------------------------------------------------------
// Shared layout

/// One entry of a side legend.
pub struct LegendEntry {
    /// The text shown.
    pub label: String,
    /// The colour of its swatch.
    pub color: RGBColor,
}

const LEGEND_WIDTH: f64 = 190.0;
const CAPTION_HEIGHT: f64 = 22.0;

/// Splits a chart into (plot, legend, caption) areas and draws the legend
/// and caption.
fn layout<DB: DrawingBackend>(
    canvas: &Canvas,
    root: &DrawingArea<DB, Shift>,
    legend: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (width, height) = root.dim_in_pixel();
    // A caption too long for one line is broken at the " · " nearest its middle.
    let caption_style = TextStyle::from(canvas.font(11.0)).color(&RGBColor(90, 90, 90));
    let text_width =
        |text: &str, style: &TextStyle| root.estimate_text_size(text, style).map_or(0, |(w, _)| w);
    let lines: Vec<&str> = if text_width(&canvas.caption, &caption_style) + canvas.px(16.0) > width
    {
        let middle = canvas.caption.len() / 2;
        let split = canvas
            .caption
            .match_indices(" · ")
            .map(|(i, _)| i)
            .min_by_key(|i| i.abs_diff(middle));
        split.map_or(vec![canvas.caption.as_str()], |i| {
            vec![&canvas.caption[..i], &canvas.caption[i + " · ".len()..]]
        })
    } else {
        vec![canvas.caption.as_str()]
    };
    let line_height = canvas.px(CAPTION_HEIGHT - 6.0);
    let (main, caption) =
        root.split_vertically(height - canvas.px(6.0) - line_height * lines.len() as u32);
    for (index, line) in lines.iter().enumerate() {
        let y = canvas.px(4.0) as i32 + (line_height * index as u32) as i32;
        caption
            .draw_text(line, &caption_style, (canvas.px(8.0) as i32, y))
            .map_err(|e| e.to_string())?;
    }
    if legend.is_empty() {
        return Ok(main);
    }
    // Wide enough for the longest label.
    let label_style = TextStyle::from(canvas.font(14.0));
    let longest = legend
        .iter()
        .map(|e| text_width(&e.label, &label_style))
        .max()
        .unwrap_or(0);
    let legend_width = canvas.px(LEGEND_WIDTH).max(longest + canvas.px(46.0));
    let (plot, side) = main.split_horizontally(width - legend_width);
    let row = canvas.px(22.0) as i32;
    let top = canvas.px(60.0) as i32;
    for (index, entry) in legend.iter().enumerate() {
        let y = top + row * index as i32;
        let x = canvas.px(8.0) as i32;
        side.draw(&Rectangle::new(
            [
                (x, y - canvas.px(3.0) as i32),
                (x + canvas.px(22.0) as i32, y + canvas.px(3.0) as i32),
            ],
            entry.color.filled(),
        ))
        .map_err(|e| e.to_string())?;
        side.draw_text(
            &entry.label,
            &label_style,
            (x + canvas.px(30.0) as i32, y - canvas.px(8.0) as i32),
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(plot)
}

/// [`layout`] with a title across the top, for charts of several panels;
/// returns the area below the title.
fn layout_with_heading<DB: DrawingBackend>(
    canvas: &Canvas,
    root: &DrawingArea<DB, Shift>,
    legend: &[LegendEntry],
    title: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    let plot = layout(canvas, root, legend)?;
    let (heading, body) = plot.split_vertically(canvas.px(40.0));
    heading
        .draw_text(
            title,
            &TextStyle::from(canvas.font(20.0)),
            (canvas.px(12.0) as i32, canvas.px(10.0) as i32),
        )
        .map_err(|e| e.to_string())?;
    Ok(body)
}

/// A chart with the title, margins and label areas every chart shares.
fn chart_builder<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    canvas: &Canvas,
    title: &str,
    title_size: f64,
) -> ChartBuilder<'a, 'static, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, canvas.font(title_size))
        .margin(canvas.px(12.0))
        .x_label_area_size(canvas.px(48.0))
        .y_label_area_size(canvas.px(72.0));
    builder
}

/// The axis labels and text sizes every chart shares.
fn style_mesh<X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &mut MeshStyle<'_, '_, X, Y, DB>,
    canvas: &Canvas,
    axes: &Axes,
) {
    mesh.x_desc(axes.x)
        .y_desc(axes.y)
        .label_style(canvas.font(14.0))
        .axis_desc_style(canvas.font(16.0))
        .light_line_style(RGBColor(235, 235, 235));
}

/// A log-axis tick: `1e-5` rather than `9.99999999999999e-6`.
fn log_tick(value: f64) -> String {
    if (0.01..1000.0).contains(&value.abs()) {
        format!("{}", (value * 1e6).round() / 1e6)
    } else {
        format!("{value:.0e}")
    }
}

fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let finite: Vec<f64> = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .collect();
    let (mut low, mut high) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    if !low.is_finite() {
        return if log { (1e-6, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        return (low / 1.5, high * 1.5);
    }
    if high - low < 1e-12 {
        high += 0.5;
        low -= 0.5;
    }
    let pad = 0.05 * (high - low);
    (low - pad, high + pad)
}

// ---------------------------------------------------------------------------
// Line charts against depth

/// A line with a spread band: `(x, y, band low, band high)` points.
pub struct Line {
    /// The legend's label.
    pub label: String,
    /// Colour of the line and its band.
    pub color: RGBColor,
    /// `(x, y, band low, band high)` per point.
    pub points: Vec<(f64, f64, f64, f64)>,
    /// Drawn dashed, without band or markers (a prediction beside measurements).
    pub dashed: bool,
    /// Points ringed for attention (the tuned rate of a curve).
    pub marks: Vec<(f64, f64)>,
}

impl Line {
    /// A solid line with bands.
    pub fn new(label: String, color: RGBColor, points: Vec<(f64, f64, f64, f64)>) -> Self {
        Self {
            label,
            color,
            points,
            dashed: false,
            marks: Vec::new(),
        }
    }
}

/// The legend of a set of lines: one entry per solid line, and one per
/// distinct label of the dashed lines (what they predict).
fn line_legend(lines: &[Line]) -> Vec<LegendEntry> {
    let mut legend: Vec<LegendEntry> = lines
        .iter()
        .filter(|l| !l.dashed)
        .map(|l| LegendEntry {
            label: l.label.clone(),
            color: l.color,
        })
        .collect();
    // Dashed lines sharing a label (one prediction per series) share one entry.
    let mut predictions: Vec<&str> = Vec::new();
    for line in lines.iter().filter(|l| l.dashed) {
        if !predictions.contains(&line.label.as_str()) {
            predictions.push(&line.label);
        }
    }
    for label in predictions {
        legend.push(LegendEntry {
            label: format!("dashed: {label}"),
            color: RGBColor(120, 120, 120),
        });
    }
    legend
}

/// A dashed line through `points` (a prediction: no markers).
fn dashed<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    canvas: &Canvas,
    points: Vec<(f64, f64)>,
    color: RGBColor,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = color.stroke_width(canvas.px(2.0));
    chart
        .draw_series(DashedLineSeries::new(
            points,
            canvas.px(7.0),
            canvas.px(5.0),
            style,
        ))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Labels of a chart.
pub struct Axes<'a> {
    /// The chart's title.
    pub title: &'a str,
    /// The x axis label.
    pub x: &'a str,
    /// The y axis label.
    pub y: &'a str,
    /// Whether the x axis is logarithmic.
    pub log_x: bool,
    /// Whether the y axis is logarithmic.
    pub log_y: bool,
    /// On a log x axis, the ticks as (position, label): the swept values
    /// themselves (learning rates, tracked steps). Empty: powers of two
    /// (depths).
    pub x_ticks: &'a [(f64, String)],
}

/// Lines with bands (e.g. a measure against depth, log-scaled depth).
pub fn line_chart(
    path: &Path,
    canvas: &Canvas,
    axes: &Axes,
    lines: &[Line],
) -> Result<(), PlotError> {
    canvas.render(path, &LineChart { axes, lines })
}

struct LineChart<'a> {
    axes: &'a Axes<'a>,
    lines: &'a [Line],
}

impl Chart for LineChart<'_> {
    fn size(&self) -> (f64, f64) {
        (800.0, 560.0)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let plot = layout(canvas, root, &line_legend(self.lines))?;
        draw_line_panel(canvas, &plot, self.axes, self.lines, None, 20.0)
    }
}

/// One chart of lines with bands on `area`: its own x range, and the y
/// range `y_range` (shared with other panels) or its own.
fn draw_line_panel<DB: DrawingBackend>(
    canvas: &Canvas,
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    lines: &[Line],
    y_range: Option<(f64, f64)>,
    title_size: f64,
) -> Result<(), String> {
    // A log x axis is drawn as log(x) on a linear axis with ticks of our
    // choosing: plotters' own log axis labels every minor tick and the
    // labels collide. Depths go by powers of two, swept values by decades.
    let by_ticks = axes.log_x && !axes.x_ticks.is_empty();
    let to_x = |x: f64| match (axes.log_x, by_ticks) {
        (false, _) => x,
        (true, false) => x.log2(),
        (true, true) => x.log10(),
    };
    let lines: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            points: l
                .points
                .iter()
                .map(|p| (to_x(p.0), p.1, p.2, p.3))
                .collect(),
            marks: l.marks.iter().map(|m| (to_x(m.0), m.1)).collect(),
            label: l.label.clone(),
            ..*l
        })
        .collect();
    // Given ticks are all shown, so panels of one sweep span the same x.
    let tick_positions = axes.x_ticks.iter().filter(|_| by_ticks).map(|t| to_x(t.0));
    let xs = padded_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .chain(tick_positions),
        false,
    );
    let ys = y_range.unwrap_or_else(|| line_y_range(&lines, axes.log_y));
    let ticks: Vec<(f64, String)> = if by_ticks {
        axes.x_ticks
            .iter()
            .map(|(x, label)| (to_x(*x), label.clone()))
            .collect()
    } else {
        let (first, last) = (xs.0.ceil() as i32, xs.1.floor() as i32);
        (first..=last)
            .map(|k| (k as f64, format!("{}", 2f64.powi(k))))
            .collect()
    };
    let body = LineBody {
        canvas,
        axes,
        lines: &lines,
        ticks: &ticks,
        y_floor: ys.0,
    };
    let mut builder = chart_builder(area, canvas, axes.title, title_size);
    if axes.log_x {
        let keyed = TickedAxis {
            range: (xs.0..xs.1).into(),
            ticks: ticks.iter().map(|t| t.0).collect(),
        };
        body.build_and_draw(&mut builder, keyed, ys)
    } else {
        body.build_and_draw(&mut builder, xs.0..xs.1, ys)
    }
}

/// A linear axis (here in log units) with grid lines and labels exactly at
/// `ticks`.
struct TickedAxis {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }
}

/// The y range that shows every line's centre and band.
fn line_y_range<'l>(lines: impl IntoIterator<Item = &'l Line>, log: bool) -> (f64, f64) {
    padded_range(
        lines
            .into_iter()
            .flat_map(|l| l.points.iter().flat_map(|p| [p.1, p.2, p.3])),
        log,
    )
}

/// The mesh, bands, lines and markers of a line chart, on linear or log axes.
struct LineBody<'a> {
    canvas: &'a Canvas,
    axes: &'a Axes<'a>,
    lines: &'a [Line],
    /// The x ticks of a log x axis (positions already in log units).
    ticks: &'a [(f64, String)],
    y_floor: f64,
}

impl LineBody<'_> {
    /// Builds the chart on x axis `x` and a linear or log y axis, and draws.
    fn build_and_draw<DB, X>(
        &self,
        builder: &mut ChartBuilder<'_, '_, DB>,
        x: X,
        ys: (f64, f64),
    ) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
    {
        if self.axes.log_y {
            self.draw(
                builder
                    .build_cartesian_2d(x, (ys.0..ys.1).log_scale())
                    .map_err(|e| e.to_string())?,
            )
        } else {
            self.draw(
                builder
                    .build_cartesian_2d(x, ys.0..ys.1)
                    .map_err(|e| e.to_string())?,
            )
        }
    }

    fn draw<DB, X, Y>(
        &self,
        mut chart: ChartContext<'_, DB, Cartesian2d<X, Y>>,
    ) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let (canvas, axes) = (self.canvas, self.axes);
        let x_format = |v: &f64| {
            if axes.log_x {
                let nearest = self
                    .ticks
                    .iter()
                    .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()));
                nearest.map_or_else(String::new, |t| t.1.clone())
            } else {
                format!("{v}")
            }
        };
        let mut mesh = chart.configure_mesh();
        style_mesh(&mut mesh, canvas, axes);
        if axes.log_x {
            mesh.x_label_formatter(&x_format);
        }
        if axes.log_y {
            mesh.y_label_formatter(&|v| log_tick(*v));
        }
        mesh.draw().map_err(|e| e.to_string())?;
        let floor = |v: f64| if axes.log_y { v.max(self.y_floor) } else { v };
        for line in self.lines {
            if line.dashed {
                dashed(
                    &mut chart,
                    canvas,
                    line.points
                        .iter()
                        .map(|p| (p.0, floor(p.1)))
                        .filter(|p| p.1.is_finite())
                        .collect(),
                    line.color,
                )?;
                continue;
            }
            let band: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|p| (p.0, floor(p.3)))
                .chain(line.points.iter().rev().map(|p| (p.0, floor(p.2))))
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, line.color.mix(0.18))))
                .map_err(|e| e.to_string())?;
            let centre: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|p| (p.0, floor(p.1)))
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(
                    centre.clone(),
                    line.color.stroke_width(canvas.px(2.5)),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    centre
                        .iter()
                        .map(|p| Circle::new(*p, canvas.px(3.5), line.color.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(line.marks.iter().map(|m| {
                    Circle::new(
                        (m.0, floor(m.1)),
                        canvas.px(8.0),
                        line.color.stroke_width(canvas.px(2.0)),
                    )
                }))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Line charts in a grid of panels sharing one legend; the panels of a
/// row share their y range, so a row compares like with like.
pub fn panel_chart(
    path: &Path,
    canvas: &Canvas,
    title: &str,
    rows: &[Vec<(Axes, Vec<Line>)>],
) -> Result<(), PlotError> {
    canvas.render(path, &PanelChart { title, rows })
}

struct PanelChart<'a> {
    title: &'a str,
    rows: &'a [Vec<(Axes<'a>, Vec<Line>)>],
}

impl PanelChart<'_> {
    fn columns(&self) -> usize {
        self.rows.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }
}

impl Chart for PanelChart<'_> {
    fn size(&self) -> (f64, f64) {
        (
            LEGEND_WIDTH + 520.0 * self.columns() as f64,
            60.0 + CAPTION_HEIGHT + 420.0 * self.rows.len().max(1) as f64,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        // One legend entry per label over every panel.
        let mut legend: Vec<LegendEntry> = Vec::new();
        for (_, lines) in self.rows.iter().flatten() {
            for entry in line_legend(lines) {
                if !legend.iter().any(|e| e.label == entry.label) {
                    legend.push(entry);
                }
            }
        }
        // The measured lines first, then what the dashed ones mean.
        legend.sort_by_key(|e| e.label.starts_with("dashed: "));
        let body = layout_with_heading(canvas, root, &legend, self.title)?;
        let areas = body.split_evenly((self.rows.len().max(1), self.columns()));
        for (r, row) in self.rows.iter().enumerate() {
            let log_y = row.first().is_some_and(|(axes, _)| axes.log_y);
            let ys = line_y_range(row.iter().flat_map(|(_, lines)| lines), log_y);
            for (c, (axes, lines)) in row.iter().enumerate() {
                let area = &areas[r * self.columns() + c];
                draw_line_panel(canvas, area, axes, lines, Some(ys), 16.0)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Scatter charts

/// Points of one group (e.g. one activation) in a scatter chart.
pub struct Scatter {
    /// The group's legend label.
    pub label: String,
    /// Colour of the group's points.
    pub color: RGBColor,
    /// `(x, y)` per point.
    pub points: Vec<(f64, f64)>,
}

/// Points coloured by group; the labels carry Spearman's ρ.
pub fn scatter_chart(
    path: &Path,
    canvas: &Canvas,
    axes: &Axes,
    groups: &[Scatter],
) -> Result<(), PlotError> {
    canvas.render(path, &ScatterChart { axes, groups })
}

struct ScatterChart<'a> {
    axes: &'a Axes<'a>,
    groups: &'a [Scatter],
}

impl Chart for ScatterChart<'_> {
    fn size(&self) -> (f64, f64) {
        (800.0, 560.0)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let (axes, groups) = (self.axes, self.groups);
        let legend: Vec<LegendEntry> = groups
            .iter()
            .map(|g| LegendEntry {
                label: g.label.clone(),
                color: g.color,
            })
            .collect();
        let xs = padded_range(
            groups.iter().flat_map(|g| g.points.iter().map(|p| p.0)),
            axes.log_x,
        );
        let ys = padded_range(
            groups.iter().flat_map(|g| g.points.iter().map(|p| p.1)),
            false,
        );
        let plot = layout(canvas, root, &legend)?;
        let mut builder = chart_builder(&plot, canvas, axes.title, 20.0);
        if axes.log_x {
            self.draw_points(
                canvas,
                builder
                    .build_cartesian_2d((xs.0..xs.1).log_scale(), ys.0..ys.1)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            self.draw_points(
                canvas,
                builder
                    .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
                    .map_err(|e| e.to_string())?,
            )
        }
    }
}

impl ScatterChart<'_> {
    /// The mesh and the points, on a linear or log x axis.
    fn draw_points<DB, X, Y>(
        &self,
        canvas: &Canvas,
        mut chart: ChartContext<'_, DB, Cartesian2d<X, Y>>,
    ) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut mesh = chart.configure_mesh();
        style_mesh(&mut mesh, canvas, self.axes);
        mesh.draw().map_err(|e| e.to_string())?;
        for group in self.groups {
            let points = group
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && (!self.axes.log_x || p.0 > 0.0));
            chart
                .draw_series(points.map(|p| Circle::new(*p, canvas.px(5.0), group.color.filled())))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// League of predictors

/// One scope's bars: per category, Spearman's ρ and its interval (`None`
/// where it could not be computed).
pub struct BarGroup {
    /// The scope's legend label.
    pub label: String,
    /// Colour of the scope's bars.
    pub color: RGBColor,
    /// Per category, `(ρ, interval low, interval high)`.
    pub values: Vec<Option<(f64, f64, f64)>>,
}

/// Grouped bars of |ρ| per category (x) and group, whiskers for the
/// interval of |ρ|; a negative ρ is drawn light and marked "−".
pub fn league_chart(
    path: &Path,
    canvas: &Canvas,
    axes: &Axes,
    categories: &[String],
    groups: &[BarGroup],
) -> Result<(), PlotError> {
    canvas.render(
        path,
        &LeagueChart {
            axes,
            categories,
            groups,
        },
    )
}

struct LeagueChart<'a> {
    axes: &'a Axes<'a>,
    categories: &'a [String],
    groups: &'a [BarGroup],
}

impl Chart for LeagueChart<'_> {
    fn size(&self) -> (f64, f64) {
        (1100.0, 560.0)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let mut legend: Vec<LegendEntry> = self
            .groups
            .iter()
            .map(|g| LegendEntry {
                label: g.label.clone(),
                color: g.color,
            })
            .collect();
        legend.push(LegendEntry {
            label: "light bar, −: ρ < 0".into(),
            color: RGBColor(200, 200, 200),
        });
        let plot = layout(canvas, root, &legend)?;
        let mut builder = chart_builder(&plot, canvas, self.axes.title, 20.0);
        let count = self.categories.len();
        let mut chart = builder
            .build_cartesian_2d(-0.5..count as f64 - 0.5, 0.0..1.1)
            .map_err(|e| e.to_string())?;
        let names = |x: &f64| {
            let index = x.round();
            let on_tick = (x - index).abs() < 1e-6 && index >= 0.0;
            if on_tick {
                self.categories
                    .get(index as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        style_mesh(&mut mesh, canvas, self.axes);
        mesh.x_labels(count)
            .x_label_formatter(&names)
            .disable_x_mesh()
            .draw()
            .map_err(|e| e.to_string())?;
        let slot = 0.8 / self.groups.len().max(1) as f64;
        let sign_style =
            TextStyle::from(canvas.font(16.0)).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (g, group) in self.groups.iter().enumerate() {
            for (c, value) in group.values.iter().enumerate() {
                let Some((rho, low, high)) = value.filter(|v| v.0.is_finite()) else {
                    continue;
                };
                let left = c as f64 - 0.4 + slot * g as f64;
                let (right, middle) = (left + slot * 0.9, left + slot * 0.45);
                let color = if rho < 0.0 {
                    lighter(group.color, 0.6)
                } else {
                    group.color
                };
                chart
                    .draw_series([Rectangle::new(
                        [(left, 0.0), (right, rho.abs())],
                        color.filled(),
                    )])
                    .map_err(|e| e.to_string())?;
                // The interval of |ρ|: mirrored for a negative ρ, from 0 where it spans 0.
                let (a, b) = if rho < 0.0 {
                    (-high, -low)
                } else {
                    (low, high)
                };
                if a.is_finite() && b.is_finite() {
                    let whisker = vec![(middle, a.max(0.0)), (middle, b.max(0.0))];
                    let style = darker(group.color, 0.3).stroke_width(canvas.px(1.5));
                    chart
                        .draw_series(LineSeries::new(whisker, style))
                        .map_err(|e| e.to_string())?;
                }
                if rho < 0.0 {
                    let top = b.max(rho.abs()).max(0.0) + 0.01;
                    chart
                        .draw_series([Text::new(
                            "−".to_string(),
                            (middle, top),
                            sign_style.clone(),
                        )])
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Landscape galleries

/// One heat map: `grid × grid` values (rows y from -1, columns x from -1).
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// Points per side `G`.
    pub grid: usize,
    /// `G × G` values, rows y from -1, columns x from -1.
    pub values: Vec<f32>,
    /// Points drawn faintly on top: `(x, y, label)`.
    pub overlay: Vec<(f32, f32, f32)>,
    /// Points ringed on top, `(x, y)`: the three data points a plane
    /// through the data passes through (METHOD §10).
    pub marks: Vec<(f32, f32)>,
}

/// Heat maps in rows × columns, each with its own symmetric diverging scale
/// (white is zero). `rows` labels each row; `None` panels are left blank.
pub fn gallery(
    path: &Path,
    canvas: &Canvas,
    title: &str,
    rows: &[String],
    panels: &[Vec<Option<Panel>>],
) -> Result<(), PlotError> {
    canvas.render(
        path,
        &Gallery {
            title,
            rows,
            panels,
        },
    )
}

struct Gallery<'a> {
    title: &'a str,
    rows: &'a [String],
    panels: &'a [Vec<Option<Panel>>],
}

const GALLERY_CELL: f64 = 210.0;

impl Gallery<'_> {
    fn columns(&self) -> usize {
        self.panels.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }

    /// `activation/layer` labels go on two lines and need a wider margin.
    fn label_width(&self) -> f64 {
        if self.rows.iter().any(|r| r.contains('/')) {
            150.0
        } else {
            90.0
        }
    }
}

impl Chart for Gallery<'_> {
    fn size(&self) -> (f64, f64) {
        (
            self.label_width() + GALLERY_CELL * self.columns() as f64,
            60.0 + GALLERY_CELL * self.rows.len().max(1) as f64 + CAPTION_HEIGHT,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let (rows, columns) = (self.rows, self.columns());
        let main = layout(canvas, root, &[])?;
        let (heading, body) = main.split_vertically(canvas.px(50.0));
        heading
            .draw_text(
                self.title,
                &TextStyle::from(canvas.font(16.0)),
                (canvas.px(12.0) as i32, canvas.px(16.0) as i32),
            )
            .map_err(|e| e.to_string())?;
        let (labels, grid_area) = body.split_horizontally(canvas.px(self.label_width()));
        let label_rows = labels.split_evenly((rows.len().max(1), 1));
        for (area, label) in label_rows.iter().zip(rows) {
            let (_, h) = area.dim_in_pixel();
            let lines: Vec<&str> = label.split('/').collect();
            for (index, line) in lines.iter().enumerate() {
                let y = h as i32 / 2
                    + canvas.px(20.0) as i32 * (2 * index as i32 - lines.len() as i32 + 1) / 2;
                area.draw_text(
                    line,
                    &TextStyle::from(canvas.font(16.0)),
                    (canvas.px(10.0) as i32, y),
                )
                .map_err(|e| e.to_string())?;
            }
        }
        let cells = grid_area.split_evenly((rows.len().max(1), columns));
        for (index, area) in cells.iter().enumerate() {
            let Some(Some(panel)) = self
                .panels
                .get(index / columns)
                .and_then(|r| r.get(index % columns))
            else {
                continue;
            };
            draw_panel(canvas, area, panel)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    canvas: &Canvas,
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, canvas.font(13.0))
        .margin(canvas.px(6.0))
        .build_cartesian_2d(-1f64..1f64, -1f64..1f64)
        .map_err(|e| e.to_string())?;
    let scale = panel
        .values
        .iter()
        .fold(0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
    let g = panel.grid;
    let half = 1.0 / (g - 1) as f64;
    let coordinate = |k: usize| -1.0 + 2.0 * k as f64 / (g - 1) as f64;
    chart
        .draw_series((0..g * g).map(|k| {
            let (i, j) = (k / g, k % g);
            let (x, y) = (coordinate(j), coordinate(i));
            let t = if scale > 0.0 {
                (panel.values[k] / scale) as f64
            } else {
                0.0
            };
            Rectangle::new(
                [(x - half, y - half), (x + half, y + half)],
                diverging(t).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(panel.overlay.iter().map(|&(x, y, label)| {
            let color = if label > 0.5 {
                RGBColor(0, 0, 0)
            } else {
                RGBColor(255, 255, 255)
            };
            Circle::new(
                (x as f64, y as f64),
                canvas.px(1.2),
                color.mix(0.45).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(panel.marks.iter().map(|&(x, y)| {
            Circle::new(
                (x as f64, y as f64),
                canvas.px(3.0),
                BLACK.stroke_width(canvas.px(1.2).max(1)),
            )
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Side-by-side panels

/// Two line charts side by side sharing one legend (the collapse profile
/// beside the gradient profile).
pub fn twin_line_chart(
    path: &Path,
    canvas: &Canvas,
    title: &str,
    left: (&Axes, &[Line]),
    right: (&Axes, &[Line]),
) -> Result<(), PlotError> {
    canvas.render(
        path,
        &TwinLineChart {
            title,
            halves: [left, right],
        },
    )
}

struct TwinLineChart<'a> {
    title: &'a str,
    halves: [(&'a Axes<'a>, &'a [Line]); 2],
}

impl Chart for TwinLineChart<'_> {
    fn size(&self) -> (f64, f64) {
        (1400.0, 600.0)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        canvas: &Canvas,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let legend = line_legend(self.halves[0].1);
        let body = layout_with_heading(canvas, root, &legend, self.title)?;
        for (area, (axes, lines)) in body.split_evenly((1, 2)).iter().zip(self.halves) {
            draw_log_y_lines(canvas, area, axes, lines)?;
        }
        Ok(())
    }
}

/// Lines on a linear x and log y axis, without bands; values at or below
/// the axis floor are drawn on it.
fn draw_log_y_lines<DB: DrawingBackend>(
    canvas: &Canvas,
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    lines: &[Line],
) -> Result<(), String> {
    let xs = padded_range(
        lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)),
        false,
    );
    let ys = padded_range(
        lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)),
        true,
    );
    let mut chart = chart_builder(area, canvas, axes.title, 16.0)
        .build_cartesian_2d(xs.0..xs.1, (ys.0..ys.1).log_scale())
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh, canvas, axes);
    mesh.x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| log_tick(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    for line in lines {
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|p| (p.0, p.1.max(ys.0)))
            .filter(|p| p.1.is_finite())
            .collect();
        if line.dashed {
            dashed(&mut chart, canvas, points, line.color)?;
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.clone(),
                line.color.stroke_width(canvas.px(2.0)),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(*p, canvas.px(2.5), line.color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(scale: f64) -> Canvas {
        Canvas {
            format: Format::Png,
            scale,
            caption: "test caption".into(),
        }
    }

    /// The image decodes, has the expected size and is not one flat colour.
    fn check_png(path: &Path, size: (u32, u32)) {
        let image = image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        assert_eq!(image.dimensions(), size, "{}", path.display());
        let colours: std::collections::HashSet<_> = image.pixels().map(|p| p.0).collect();
        assert!(
            colours.len() > 10,
            "{} has only {} colours",
            path.display(),
            colours.len()
        );
    }

    fn temp_dir(label: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("variability-plot-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn line(label: &str, shift: f64) -> Line {
        Line {
            dashed: false,
            label: label.into(),
            color: activation_color(label),
            marks: Vec::new(),
            points: [1.0, 2.0, 4.0, 8.0, 16.0]
                .iter()
                .map(|&d: &f64| {
                    (
                        d,
                        shift + d.ln(),
                        shift + d.ln() - 0.3,
                        shift + d.ln() + 0.3,
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn every_chart_type_renders_a_png_of_the_expected_size() {
        let dir = temp_dir("charts");
        let axes = |log_x, log_y| Axes {
            title: "title",
            x: "x",
            y: "y",
            log_x,
            log_y,
            x_ticks: &[],
        };
        line_chart(
            &dir.join("line.png"),
            &canvas(1.0),
            &axes(true, false),
            &[line("relu", 0.0), line("abs", 1.0)],
        )
        .unwrap();
        check_png(&dir.join("line.png"), (800, 560));
        line_chart(
            &dir.join("line2.png"),
            &canvas(2.0),
            &axes(false, true),
            &[line("tanh", 2.0)],
        )
        .unwrap();
        check_png(&dir.join("line2.png"), (1600, 1120));

        let groups = [
            Scatter {
                label: "relu (ρ = 0.50)".into(),
                color: activation_color("relu"),
                points: vec![(0.5, 0.01), (0.52, 0.02)],
            },
            Scatter {
                label: "abs (ρ = 1.00)".into(),
                color: activation_color("abs"),
                points: vec![(1.0, 0.03), (1.0, 0.05)],
            },
        ];
        scatter_chart(
            &dir.join("scatter.png"),
            &canvas(1.0),
            &axes(false, false),
            &groups,
        )
        .unwrap();
        check_png(&dir.join("scatter.png"), (800, 560));

        let panel = |phase: f32| Panel {
            title: "L = 1".into(),
            grid: 11,
            values: (0..121)
                .map(|k| ((k % 11) as f32 * 0.5 + phase).sin())
                .collect(),
            overlay: vec![(0.0, 0.0, 1.0), (0.5, -0.5, 0.0)],
            marks: vec![(-0.5, 0.25)],
        };
        let rows = vec!["relu".to_string(), "abs".to_string()];
        gallery(
            &dir.join("gallery.png"),
            &canvas(1.0),
            "gallery",
            &rows,
            &[
                vec![Some(panel(0.0)), None],
                vec![Some(panel(1.0)), Some(panel(2.0))],
            ],
        )
        .unwrap();
        check_png(&dir.join("gallery.png"), (90 + 2 * 210, 60 + 2 * 210 + 22));

        let lines = [line("relu", 0.0)];
        twin_line_chart(
            &dir.join("twin.png"),
            &canvas(1.0),
            "twin",
            (&axes(false, true), &lines),
            (&axes(false, true), &lines),
        )
        .unwrap();
        check_png(&dir.join("twin.png"), (1400, 600));

        let ticks = [(1e-3, "1e-3".to_string()), (1e-2, "1e-2".to_string())];
        let rate_axes = || Axes {
            x_ticks: &ticks,
            ..axes(true, false)
        };
        let swept = || Line {
            marks: vec![(1e-2, 0.9)],
            ..Line::new(
                "L = 4".into(),
                sequential_color(0, 2),
                vec![(1e-3, 0.7, 0.6, 0.8), (1e-2, 0.9, 0.85, 0.95)],
            )
        };
        panel_chart(
            &dir.join("panels.png"),
            &canvas(1.0),
            "panels",
            &[
                vec![(rate_axes(), vec![swept()]), (rate_axes(), vec![swept()])],
                vec![(axes(true, true), vec![line("relu", 2.0)])],
            ],
        )
        .unwrap();
        check_png(&dir.join("panels.png"), (190 + 2 * 520, 60 + 22 + 2 * 420));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn svg_output_is_written() {
        let dir = temp_dir("svg");
        let path = dir.join("line.svg");
        let canvas = Canvas {
            format: Format::Svg,
            ..canvas(1.0)
        };
        line_chart(
            &path,
            &canvas,
            &Axes {
                title: "t",
                x: "x",
                y: "y",
                log_x: true,
                log_y: false,
                x_ticks: &[],
            },
            &[line("relu", 0.0)],
        )
        .unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn activations_keep_their_colour() {
        assert_eq!(activation_color("relu"), PALETTE[0]);
        assert_eq!(activation_color("abs"), PALETTE[1]);
        assert_eq!(activation_color("custom"), activation_color("custom"));
    }
}
