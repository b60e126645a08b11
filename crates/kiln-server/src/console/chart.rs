//! What the console's charts share: a drawing of fixed size in SVG units (it scales to the
//! page's width), with a value axis from 0 up on the left and a time axis below, oldest on the
//! left. Each chart is inline SVG drawn on the server (no script), with its values also in its
//! description and in a table for readers that do not see it (templates/chart_axes.html draws
//! the axes).

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 200.0;
/// Room for the axis labels on the left and below, and a margin above and to the right.
pub const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 24.0;
/// The width and height of the plot inside the axes.
pub const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;

/// A coordinate with at most one decimal.
pub fn coordinate(x: f64) -> String {
    format!("{x:.1}")
}

/// A chart's axes: the value scale runs from 0 at the bottom to `top` (labelled `top_label`).
pub struct Axes {
    top: f64,
    pub top_label: String,
    pub y_top: String,
    pub y_bottom: String,
    pub x_left: String,
    pub x_right: String,
}

impl Axes {
    /// Axes whose scale tops at `top`, or at 1 when `top` is not a positive number.
    pub fn new(top: f64, top_label: String) -> Axes {
        Axes {
            top: if top > 0.0 { top } else { 1.0 },
            top_label,
            y_top: coordinate(TOP),
            y_bottom: coordinate(HEIGHT - BOTTOM),
            x_left: coordinate(LEFT),
            x_right: coordinate(WIDTH - RIGHT),
        }
    }

    /// Where `value` is drawn: its height above the bottom axis and its y coordinate. Values
    /// below 0 sit on the axis.
    pub fn place(&self, value: f64) -> (f64, f64) {
        let height = PLOT_HEIGHT * (value.max(0.0) / self.top).min(1.0);
        (height, HEIGHT - BOTTOM - height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_placed_on_their_scale() {
        let axes = Axes::new(100.0, "100%".into());
        assert_eq!(axes.place(100.0), (160.0, 16.0));
        assert_eq!(axes.place(50.0), (80.0, 96.0));
        assert_eq!(axes.place(-3.0), (0.0, 176.0));
        // No positive top: a scale of 1, so nothing divides by zero.
        assert_eq!(Axes::new(0.0, "0".into()).place(0.5), (80.0, 96.0));
        assert_eq!(axes.x_left, "56.0");
        assert_eq!(axes.y_bottom, "176.0");
    }
}
