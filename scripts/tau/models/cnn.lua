-- The small convolutional network of the quick demo:
--   [conv3x3(32) BN ReLU maxpool2] [conv3x3(64) BN ReLU maxpool2] -> adaptive average pool
--   to image/4 -> Linear(128) ReLU (Dropout) -> Linear(classes)
-- Padding keeps the size through each convolution, so a 28x28 image gives 7x7 features; the
-- adaptive pool is then the identity for the configured image size and lets other sizes run.
local tau = require "tau"
local raise = require("tau.util").raise
local nn = tau.nn

local CNN = nn.Module:extend("CNN")

function CNN:init(o)
  local fn = "tau.models.cnn"
  local c, classes, image = o.channels or 1, o.classes or 10, o.image or 28
  local w = o.width or 32
  local hidden = o.hidden or 128
  if image < 4 then raise(fn .. ": image must be at least 4 pixels, got " .. image) end
  local pool = image // 4
  self.features = nn.Sequential{
    nn.Conv2d(c, w, 3, {padding = 1, bias = false}), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(w, 2 * w, 3, {padding = 1, bias = false}), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
  }
  self.pool = nn.AdaptiveAvgPool2d(pool)
  local head = {nn.Flatten(), nn.Linear(2 * w * pool * pool, hidden), nn.ReLU()}
  if (o.dropout or 0) > 0 then head[#head + 1] = nn.Dropout(o.dropout) end
  head[#head + 1] = nn.Linear(hidden, classes)
  self.classifier = nn.Sequential(head)
end

function CNN:forward(x)
  return self.classifier(self.pool(self.features(x)))
end

-- cnn{channels = 1, classes = 10, image = 28, width = 32, hidden = 128, dropout = 0}
local cnn_opts = tau.options.spec("tau.models.cnn", {
  channels = {"integer", min = 1}, classes = {"integer", min = 1}, image = {"integer", min = 1},
  width = {"integer", min = 1}, hidden = {"integer", min = 1}, dropout = {"number", min = 0, max = 1}})
return function(o) return CNN(cnn_opts(o)) end
