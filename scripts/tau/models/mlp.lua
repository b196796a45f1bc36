-- A multilayer perceptron on flattened inputs: Linear -> activation (-> Dropout) per hidden
-- layer, then a linear classifier.
local tau = require "tau"
local raise = require("tau.util").raise
local nn = tau.nn

local activations = {relu = nn.ReLU, gelu = nn.GELU, tanh = nn.Tanh, sigmoid = nn.Sigmoid}

-- mlp{inputs = 784, hidden = {256, 128}, classes = 10, activation = "relu", dropout = 0};
-- inputs defaults to channels * image * image.
local mlp_opts = tau.options.spec("tau.models.mlp", {
  inputs = {"integer", min = 1}, image = {"integer", min = 1}, channels = {"integer", min = 1}, hidden = "integer|table",
  activation = "string", dropout = {"number", min = 0, max = 1}, classes = {"integer", min = 1}})

local function mlp(o)
  o = mlp_opts(o)
  local fn = "tau.models.mlp"
  local inputs = o.inputs or (o.image and (o.channels or 1) * o.image * o.image)
  if type(inputs) ~= "number" then raise(fn .. ": give the number of inputs (inputs = n, or channels and image)") end
  local hidden = o.hidden or {}
  if type(hidden) == "number" then hidden = {hidden} end
  local act = activations[o.activation or "relu"]
  if not act then raise(fn .. ": unknown activation '" .. tostring(o.activation) .. "' (relu, gelu, tanh, sigmoid)") end
  local layers = {nn.Flatten()}
  local width = inputs
  for _, h in ipairs(hidden) do
    layers[#layers + 1] = nn.Linear(width, h)
    layers[#layers + 1] = act()
    if (o.dropout or 0) > 0 then layers[#layers + 1] = nn.Dropout(o.dropout) end
    width = h
  end
  layers[#layers + 1] = nn.Linear(width, o.classes or 10)
  return nn.Sequential(layers)
end

return mlp
