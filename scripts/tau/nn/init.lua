-- tau.nn: modules over tau.F, with PyTorch's conventions (parameter registration by
-- assignment, dotted state_dict names, default initialisations).
--
--   local Net = nn.Module:extend("Net")
--   function Net:init(c) self.fc = nn.Linear(c, 10) end
--   function Net:forward(x) return self.fc(x) end
--   local m = Net(784)          -- m(x) calls forward
--
-- The package: module.lua (the class system), initialization.lua (nn.init), one file per family
-- of layers, containers.lua and attention.lua; this file gathers their public names.
local nn = {}

for _, part in ipairs{"module", "linear", "conv", "normalization", "activation", "pooling", "containers",
                      "attention"} do
  for k, v in pairs(require("tau.nn." .. part)) do nn[k] = v end
end
nn.init = require "tau.nn.initialization"

return nn
