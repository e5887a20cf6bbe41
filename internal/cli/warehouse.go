package cli

import (
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
)

// warehouseEncoder maps events to Track messages with the receive and send
// times the warehouse stores (received_at, sent_at).
func warehouseEncoder(env buildEnv, d config.Destination) (destination.Encoder, error) {
	return warehouse.Encoder{Track: destination.TrackEncoder{
		Mapper: mapping.New(d.Mapping, env.Specs, library()), MaxItemBytes: warehouse.MaxItemBytes,
		Room: warehouse.TimesRoom,
	}}, nil
}

func warehouseWriter(env buildEnv, d config.Destination) (destination.Writer, func() error, error) {
	w, err := warehouse.New(warehouse.Config{
		Driver:          d.Warehouse.Driver,
		DSN:             d.Warehouse.DSN,
		Schema:          d.Warehouse.Schema,
		MaxStringLength: d.Warehouse.MaxStringLength,
		Logger:          env.Logger.With("destination", d.Name),
	})
	if err != nil {
		return nil, nil, err
	}
	return w, w.Close, nil
}
