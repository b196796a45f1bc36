-- tau.models: the architectures of the experiments, each a constructor taking an options
-- table and returning a tau.nn module from images (N, C, H, W) to logits (N, classes).
--   models.cnn{channels = 1, classes = 10, image = 28}
--   models.resnet{depth = 18, width = 64, classes = 10, channels = 3}
--   models.vit{patch = 4, dim = 192, depth = 6, heads = 3, classes = 10, image = 32}
--   models.mlp{inputs = 784, hidden = {256, 128}, classes = 10}
local raise = require("tau.util").raise

local models = {
  cnn = require "tau.models.cnn",
  resnet = require "tau.models.resnet",
  vit = require "tau.models.vit",
  mlp = require "tau.models.mlp",
}

-- models.build("resnet", {depth = 20}) or models.build("resnet20", {...}): by name, for
-- command-line flags; a trailing number is the depth.
function models.build(name, opts)
  opts = opts or {}
  local ctor = rawget(models, name)
  if type(ctor) ~= "function" or name == "build" then
    local base, depth = tostring(name):match("^(%a+)(%d+)$")
    if base and type(rawget(models, base)) == "function" and base ~= "build" then
      local o = {}
      for k, v in pairs(opts) do o[k] = v end
      o.depth = tonumber(depth)
      return models[base](o)
    end
    raise("tau.models.build: unknown model '" .. tostring(name) .. "' (cnn, resnet<depth>, vit, mlp)")
  end
  return ctor(opts)
end

return models
