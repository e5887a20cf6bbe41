// Package warehouse is Segment's warehouse schema as a model: how a Track
// message becomes rows in `tracks` and in its event's table, how names are
// made (go-snakecase, flattening, identifier limits, reserved names), how a
// column's type is chosen from the first non-null value, and how a later
// value is cast to it. It talks to no database: destination/warehouse loads
// the rows it describes.
package warehouse
