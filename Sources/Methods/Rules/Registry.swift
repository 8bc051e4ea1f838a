// The registry: every learning rule, once, in the order tables list them. Adding a rule is a new file in
// Rules/ (its `RuleDefinition`) plus one line here.

public enum Rules {
    public static let all: [RuleDefinition.Type] = [
        BPRule.self, FARule.self, PredSimRule.self, BWBPFRule.self, BWBPFCodeRule.self, BLLRule.self, BLLCodeRule.self,
        DGLRule.self,
    ]
}
