"""The example model: demand forecasting for a wholesale club (clubs x items x days)."""
