// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IIdentityOwnersR {
    function ownerOf(uint256 agentId) external view returns (address);
}

/// @title ReputationRegistry: ERC-8004 feedback, written for Anima from the ERC.
/// @notice A client may leave feedback on an agent only with the agent's feedback
/// authorization: the agent's owner signs (EIP-191) the tuple (agentId, client,
/// indexLimit, expiry, chainId, this registry, signer), so each client gets a bounded
/// number of feedbacks, on this chain and registry only, until the expiry.
contract ReputationRegistry {
    IIdentityOwnersR public immutable identityRegistry;

    struct Feedback {
        uint8 score;
        bytes32 tag1;
        bytes32 tag2;
        bool revoked;
    }

    mapping(uint256 => mapping(address => uint64)) public lastIndex; // slot 0
    mapping(uint256 => mapping(address => mapping(uint64 => Feedback))) private _feedback; // slot 1

    event NewFeedback(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint8 score,
        bytes32 indexed tag1,
        bytes32 tag2,
        string fileUri,
        bytes32 fileHash
    );

    constructor(address identityRegistry_) {
        identityRegistry = IIdentityOwnersR(identityRegistry_);
    }

    /// The message an agent signs to let `client` give feedback (EIP-191 personal_sign
    /// over its keccak256 is what `giveFeedback` checks).
    function feedbackAuthHash(
        uint256 agentId,
        address client,
        uint64 indexLimit,
        uint256 expiry,
        address signer
    ) public view returns (bytes32) {
        return keccak256(abi.encode(agentId, client, indexLimit, expiry, block.chainid, address(this), signer));
    }

    function giveFeedback(
        uint256 agentId,
        uint8 score,
        bytes32 tag1,
        bytes32 tag2,
        string calldata fileUri,
        bytes32 fileHash,
        bytes calldata feedbackAuth
    ) external {
        require(score <= 100, "score above 100");
        uint64 index = _authorizedIndex(agentId, feedbackAuth);
        lastIndex[agentId][msg.sender] = index;
        _feedback[agentId][msg.sender][index] = Feedback(score, tag1, tag2, false);
        emit NewFeedback(agentId, msg.sender, score, tag1, tag2, fileUri, fileHash);
    }

    /// The caller's next feedback index, if the agent's owner authorized it.
    function _authorizedIndex(uint256 agentId, bytes calldata feedbackAuth) private view returns (uint64 index) {
        (uint64 indexLimit, uint256 expiry, address signer, bytes memory signature) =
            abi.decode(feedbackAuth, (uint64, uint256, address, bytes));
        require(block.timestamp < expiry, "feedback authorization expired");
        require(identityRegistry.ownerOf(agentId) == signer, "signer is not the agent's owner");
        index = lastIndex[agentId][msg.sender] + 1;
        require(index <= indexLimit, "feedback index above the authorized limit");
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19Ethereum Signed Message:\n32", feedbackAuthHash(agentId, msg.sender, indexLimit, expiry, signer)
            )
        );
        require(_recover(digest, signature) == signer, "invalid feedback authorization");
    }

    function readFeedback(uint256 agentId, address client, uint64 index)
        external
        view
        returns (uint8 score, bytes32 tag1, bytes32 tag2, bool revoked)
    {
        Feedback storage f = _feedback[agentId][client][index];
        return (f.score, f.tag1, f.tag2, f.revoked);
    }

    function _recover(bytes32 digest, bytes memory signature) private pure returns (address) {
        require(signature.length == 65, "signature length");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        require(uint256(s) <= 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0, "malleable signature");
        return ecrecover(digest, v, r, s);
    }
}
